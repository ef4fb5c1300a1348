//! Debian's nginx in front of a server, with README.md's configuration ([`config`]), run in
//! the foreground in a prefix of its own (configuration, pid file, logs, temporary files)
//! on a free loopback port. Stopped by its master's PID when dropped; its logs stay in the
//! prefix for reading.

pub mod config;

use crate::Error;
use crate::child::{Running, command};
use crate::servers::readiness::START_PATIENCE;
use config::Workers;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A running nginx; stopped (its master by PID, then any worker left) when dropped.
#[derive(Debug)]
pub struct Nginx {
    running: Running,
    prefix: PathBuf,
    /// `http://127.0.0.1:PORT`, where it listens.
    pub url: String,
    /// How many workers it runs, and their limits.
    pub workers: Workers,
}

impl Nginx {
    /// Starts `binary` with README.md's configuration, forwarding to `upstream`, with
    /// workers enough for `subscribers` streams, in `prefix` (emptied first); returns once
    /// it accepts connections.
    pub fn start(
        binary: &Path,
        prefix: &Path,
        upstream: SocketAddrV4,
        subscribers: u64,
    ) -> Result<Self, Error> {
        let prefix = fresh_folder(prefix)?;
        let listen = SocketAddrV4::new(Ipv4Addr::LOCALHOST, free_port()?);
        let workers = Workers::for_subscribers(subscribers, open_files::raise()?.hard)?;
        let http =
            config::pointed_at(config::readme_block()?, &workers.listen(listen), &[upstream])?;
        let as_root = nix::unistd::geteuid().is_root();
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, config::main_config(&prefix, &http, workers, as_root))
            .map_err(|err| Error::Io(format!("writing {}: {err}", conf.display())))?;
        let output = prefix.join("output.log");
        let log = std::fs::File::create(&output)
            .map_err(|err| Error::Io(format!("creating {}: {err}", output.display())))?;
        let log_err = log.try_clone().map_err(|err| Error::Io(err.to_string()))?;
        let mut nginx = command(binary);
        // `-e` before the configuration is read: the built-in error log is not ours to write.
        nginx.arg("-p").arg(&prefix).arg("-c").arg(&conf).arg("-e").arg(prefix.join("error.log"));
        nginx.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let running = Running::spawn("nginx", &mut nginx)?;
        let url = format!("http://{listen}");
        let mut nginx = Self { running, prefix, url, workers };
        nginx.wait_until_listening(listen)?;
        eprintln!(
            "sse-load: nginx (pid {}, {} workers) at {}, logs in {}",
            nginx.pid(),
            workers.processes,
            nginx.url,
            nginx.prefix.display()
        );
        Ok(nginx)
    }

    /// Its master's process id.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// Waits until a worker serves `listen`; fails with nginx's logs if it exits first or
    /// takes longer than [`START_PATIENCE`].
    fn wait_until_listening(&mut self, listen: SocketAddrV4) -> Result<(), Error> {
        let started = Instant::now();
        while started.elapsed() < START_PATIENCE {
            if worker_closes_an_empty_connection(listen) {
                return Ok(());
            }
            if let Some(exit) = self.running.exited() {
                return Err(Error::Io(format!("{exit} before listening:\n{}", self.logs())));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Error::Io(format!("nginx not listening after {START_PATIENCE:?}:\n{}", self.logs())))
    }

    /// What nginx printed and its error log.
    fn logs(&self) -> String {
        ["output.log", "error.log"]
            .map(|name| std::fs::read_to_string(self.prefix.join(name)).unwrap_or_default())
            .join("\n")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let workers = crate::procfs::children(self.pid()).unwrap_or_default();
        // SIGTERM is nginx's fast shutdown: the master stops its workers, then exits.
        if self.running.stop() {
            return;
        }
        // The master was killed, so its workers may be left over.
        for worker in workers {
            let comm = std::fs::read_to_string(format!("/proc/{worker}/comm"));
            if comm.is_ok_and(|comm| comm.trim() == "nginx") {
                let pid = nix::unistd::Pid::from_raw(worker as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Whether a connection to `listen` that sends nothing is closed by nginx within a second.
/// The master listens before its workers run, so a connection may be accepted by the kernel
/// and wait; once a worker has closed one, nginx is serving, and holds no probe of ours when
/// its open files are first read.
fn worker_closes_an_empty_connection(listen: SocketAddrV4) -> bool {
    let Ok(mut probe) = TcpStream::connect(listen) else { return false };
    let _ = probe.shutdown(std::net::Shutdown::Write);
    let _ = probe.set_read_timeout(Some(Duration::from_secs(1)));
    matches!(probe.read(&mut [0; 64]), Ok(0))
}

/// `path`, emptied or created, as an absolute path (nginx resolves relative paths against
/// its own prefix).
fn fresh_folder(path: &Path) -> Result<PathBuf, Error> {
    let failed = |what: &str, err: std::io::Error| {
        Error::Io(format!("{what} the nginx prefix {}: {err}", path.display()))
    };
    match std::fs::remove_dir_all(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(failed("emptying", err));
        }
        _ => {}
    }
    std::fs::create_dir_all(path).map_err(|err| failed("creating", err))?;
    std::fs::canonicalize(path).map_err(|err| failed("resolving", err))
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|err| Error::Io(format!("finding a free port: {err}")))?;
    let addr = listener.local_addr().map_err(|err| Error::Io(err.to_string()))?;
    Ok(addr.port())
}
