//! nginx's configuration for a run: README.md's one ```` ```nginx ```` block, the one
//! deployers copy, changed only where it must be (its `listen` address, with `reuseport`
//! when there are several workers, and its upstream servers), inside a main configuration
//! of ours that keeps every file in the run's prefix and sizes the workers for the
//! subscribers. `end2end/tests/nginx.ts` does the same for the Playwright tests.

use crate::Error;
use std::net::SocketAddrV4;
use std::path::Path;

/// README.md, read when `sse-load` is built, so a run measures the block as it stands.
const README: &str = include_str!("../../../../README.md");
/// Connections nginx uses per proxied stream: the subscriber's and the upstream one.
const CONNECTIONS_PER_SUBSCRIBER: u64 = 2;
/// Files a worker needs besides its connections: logs, the listening socket, epoll, the
/// channel to the master.
const SPARE_FILES: u64 = 64;
/// Connections a worker may hold beyond the streams: idle upstream keep-alive ones
/// (the README keeps 64 per worker), and room to spare.
const SPARE_CONNECTIONS: u64 = 256;

/// How many workers, and how many connections and files each may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workers {
    pub processes: u64,
    /// `worker_connections`.
    pub connections: u64,
    /// `worker_rlimit_nofile`.
    pub files: u64,
}

impl Workers {
    /// Enough workers for `subscribers` streams when a process may hold `files_limit` open
    /// files. With several, each listens on its own socket (`reuseport`) and the kernel
    /// spreads new connections over them by a hash, so each gets about its share; a quarter
    /// of each worker's connections is kept for the shares coming out uneven.
    pub fn for_subscribers(subscribers: u64, files_limit: u64) -> Result<Self, Error> {
        let connections = files_limit.saturating_sub(SPARE_FILES);
        let usable = connections * 3 / 4;
        if usable == 0 {
            let why = format!("leaves nginx no connections: open-files limit {files_limit}");
            return Err(Error::Flag { flag: "--subscribers", why });
        }
        let needed = subscribers * CONNECTIONS_PER_SUBSCRIBER + SPARE_CONNECTIONS;
        Ok(Self { processes: needed.div_ceil(usable), connections, files: files_limit })
    }

    /// The `listen` argument for `addr`. nginx's own balancing (`accept_mutex`) lets a
    /// worker that last held the mutex go on accepting past `worker_connections` (measured:
    /// 380 of 1,000 subscribers refused with three workers at 1,236 connections each), so
    /// several workers listen with `reuseport` instead.
    pub fn listen(&self, addr: SocketAddrV4) -> String {
        match self.processes {
            1 => addr.to_string(),
            _ => format!("{addr} reuseport"),
        }
    }
}

/// README.md's nginx configuration: its one ```` ```nginx ```` block.
pub fn readme_block() -> Result<&'static str, Error> {
    nginx_block(README)
}

/// The one ```` ```nginx ```` block of `markdown`; an error when there is none or more.
fn nginx_block(markdown: &str) -> Result<&str, Error> {
    let mut blocks = Vec::new();
    let mut open = None;
    let mut offset = 0;
    for line in markdown.split_inclusive('\n') {
        let fence = line.trim_end_matches(['\n', '\r']);
        match open {
            None if fence == "```nginx" => open = Some(offset + line.len()),
            Some(start) if fence == "```" => {
                blocks.push(&markdown[start..offset]);
                open = None;
            }
            _ => {}
        }
        offset += line.len();
    }
    match blocks[..] {
        [block] => Ok(block),
        _ => Err(Error::Io(format!(
            "README.md should hold exactly one ```nginx block; it holds {}",
            blocks.len()
        ))),
    }
}

/// `config` with its `listen` argument replaced by `listen` and its upstream `server ADDRESS …;` lines
/// pointed at `upstreams` (in order, each keeping the parameters of the line it replaces;
/// lines beyond `upstreams.len()` removed). Everything else stays as written. An error when
/// `config` lacks what is replaced, so a README that changes shape fails loudly.
pub fn pointed_at(config: &str, listen: &str, upstreams: &[SocketAddrV4]) -> Result<String, Error> {
    let lines: Vec<&str> = config.lines().collect();
    let servers: Vec<usize> =
        (0..lines.len()).filter(|&i| upstream_address(lines[i]).is_some()).collect();
    let listens: Vec<usize> =
        (0..lines.len()).filter(|&i| argument(lines[i], "listen").is_some()).collect();
    if servers.len() < upstreams.len() || listens.len() != 1 {
        return Err(Error::Io(format!(
            "expected one `listen` and at least {} upstream `server ADDRESS;` lines in \
             README.md's nginx configuration; found {} and {}:\n{config}",
            upstreams.len(),
            listens.len(),
            servers.len()
        )));
    }
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if listens.contains(&i) {
            out.push(replace(line, argument(line, "listen"), listen));
        } else if let Some(n) = servers.iter().position(|&server| server == i) {
            match upstreams.get(n) {
                Some(upstream) => {
                    out.push(replace(line, upstream_address(line), &upstream.to_string()))
                }
                None => continue,
            }
        } else {
            out.push((*line).to_owned());
        }
    }
    Ok(out.join("\n") + "\n")
}

/// A whole `nginx.conf` that runs `http` (the README's server and upstream blocks) with
/// `workers`, every file in `prefix`, in the foreground.
pub fn main_config(prefix: &Path, http: &str, workers: Workers, as_root: bool) -> String {
    let at = |name: &str| prefix.join(name).display().to_string();
    // Workers switch to `user` only when the master runs as root (as in CI); the default
    // user could not write to the prefix, where proxied responses are buffered.
    let user = if as_root { "user root;\n" } else { "" };
    let http: String = http
        .lines()
        .map(|line| if line.is_empty() { "\n".to_owned() } else { format!("    {line}\n") })
        .collect();
    format!(
        "# Written by sse-load (bench/src/servers/nginx/config.rs): README.md's configuration,\n\
         # measured.\n\
         daemon off;\n\
         worker_processes {processes};\n\
         worker_rlimit_nofile {files};\n\
         {user}\
         pid {pid};\n\
         lock_file {lock};\n\
         error_log {error_log} notice;\n\
         \n\
         events {{\n    \
             worker_connections {connections};\n\
         }}\n\
         \n\
         http {{\n    \
             access_log {access_log};\n    \
             client_body_temp_path {client_body};\n    \
             proxy_temp_path {proxy};\n    \
             fastcgi_temp_path {fastcgi};\n    \
             uwsgi_temp_path {uwsgi};\n    \
             scgi_temp_path {scgi};\n\
         \n\
         {http}\
         }}\n",
        processes = workers.processes,
        files = workers.files,
        connections = workers.connections,
        pid = at("nginx.pid"),
        lock = at("nginx.lock"),
        error_log = at("error.log"),
        access_log = at("access.log"),
        client_body = at("client_body"),
        proxy = at("proxy"),
        fastcgi = at("fastcgi"),
        uwsgi = at("uwsgi"),
        scgi = at("scgi"),
    )
}

/// Where the first argument of directive `name` stands in `line`, if `line` is one.
fn argument(line: &str, name: &str) -> Option<(usize, usize)> {
    let indent = line.len() - line.trim_start().len();
    let rest = line[indent..].strip_prefix(name)?;
    let gap = rest.len() - rest.trim_start().len();
    if gap == 0 {
        return None;
    }
    let start = indent + name.len() + gap;
    let length = line[start..].find(|c: char| c.is_whitespace() || c == ';')?;
    (length > 0).then_some((start, start + length))
}

/// Where the address of an upstream `server ADDRESS …;` line stands, if it is one.
fn upstream_address(line: &str) -> Option<(usize, usize)> {
    let (start, end) = argument(line, "server")?;
    line[start..end].parse::<SocketAddrV4>().ok().map(|_| (start, end))
}

/// `line` with `range` (found by [`argument`], so present) replaced by `with`.
fn replace(line: &str, range: Option<(usize, usize)>, with: &str) -> String {
    let (start, end) = range.expect("the line was chosen for holding it");
    format!("{}{with}{}", &line[..start], &line[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddrV4 {
        text.parse().unwrap()
    }

    #[test]
    fn the_readme_block_is_pointed_at_the_run_and_otherwise_left_as_written() {
        let block = readme_block().unwrap();
        let pointed = pointed_at(block, "127.0.0.1:8443", &[addr("127.0.0.1:41000")]).unwrap();
        assert!(pointed.contains("listen 127.0.0.1:8443;"), "{pointed}");
        assert!(pointed.contains("server 127.0.0.1:41000 max_fails=0;"), "{pointed}");
        assert_eq!(pointed.matches("max_fails=0;").count(), 1, "the other instances removed");
        // Every line of the result that is not the listen or the upstream is the README's.
        let readme: Vec<&str> = block.lines().collect();
        for line in pointed.lines().filter(|line| !line.contains("127.0.0.1")) {
            assert!(readme.contains(&line), "{line:?} is not in the README's block");
        }
        assert_eq!(pointed.lines().count(), readme.len() - 2);
    }

    #[test]
    fn a_block_without_what_is_replaced_is_refused() {
        let err = pointed_at("server { listen 80; }", "127.0.0.1:1", &[addr("127.0.0.1:2")]);
        assert!(err.unwrap_err().to_string().contains("upstream"));
        assert!(nginx_block("no block\n").is_err());
        assert!(nginx_block("```nginx\na\n```\n```nginx\nb\n```\n").is_err());
        assert_eq!(nginx_block("text\n```nginx\na;\nb;\n```\nmore\n").unwrap(), "a;\nb;\n");
    }

    #[test]
    fn directives_are_found_by_name_not_by_prefix() {
        assert_eq!(argument("    listen 80;", "listen"), Some((11, 13)));
        assert_eq!(argument("listener 80;", "listen"), None);
        assert_eq!(upstream_address("  server 127.0.0.1:3001 max_fails=0;"), Some((9, 23)));
        assert_eq!(upstream_address("server {"), None, "a server block, not an upstream");
        assert_eq!(upstream_address("  server_name example.org;"), None);
    }

    #[test]
    fn enough_workers_for_two_connections_per_subscriber() {
        let workers = Workers::for_subscribers(10_000, 20_000).unwrap();
        assert_eq!((workers.connections, workers.files), (19_936, 20_000));
        // 20,256 connections over 14,952 usable per worker.
        assert_eq!(workers.processes, 2);
        assert_eq!(workers.listen(addr("127.0.0.1:9")), "127.0.0.1:9 reuseport");
        assert_eq!(Workers::for_subscribers(19_000, 20_000).unwrap().processes, 3);
        let one = Workers::for_subscribers(10, 20_000).unwrap();
        assert_eq!((one.processes, one.listen(addr("127.0.0.1:9"))), (1, "127.0.0.1:9".into()));
        assert!(Workers::for_subscribers(10, 64).is_err());
    }

    #[test]
    fn the_main_configuration_keeps_everything_in_the_prefix() {
        let workers = Workers { processes: 3, connections: 100, files: 164 };
        let text = main_config(Path::new("/tmp/p"), "upstream x {\n}\n", workers, true);
        for line in [
            "worker_processes 3;",
            "worker_rlimit_nofile 164;",
            "user root;",
            "pid /tmp/p/nginx.pid;",
            "    worker_connections 100;",
            "    access_log /tmp/p/access.log;",
            "    upstream x {",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
        assert!(!main_config(Path::new("/p"), "", workers, false).contains("user"));
    }
}
