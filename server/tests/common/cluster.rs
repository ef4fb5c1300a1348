//! A real `redis-server` on a free loopback port in a folder of its own, and livenames
//! instances as child processes of the built binary, so a test can crash one for real. Both
//! are killed by their process id when dropped, also when the test panics.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Long enough for a process to start or a state to settle; only bounds a hang.
const STARTUP: Duration = Duration::from_secs(20);

/// A `redis-server` of this test's own, without persistence: a restart loses its data.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    /// Extra `redis-server` flags, kept for restarts.
    flags: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port, in a new temporary folder.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`RedisServer::start`] with extra `redis-server` flags.
    pub fn start_with(flags: &[&str]) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("livenames-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the Redis folder");
        let flags = flags.iter().map(ToString::to_string).collect();
        let mut redis = Self { port, dir, flags, child: None };
        redis.launch();
        redis
    }

    /// The port it listens on.
    #[allow(dead_code, reason = "only the fault test puts a proxy in front of it")]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    #[allow(dead_code, reason = "only the fault test stops Redis")]
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Lets a paused server run again (SIGCONT).
    #[allow(dead_code, reason = "only the fault test stops Redis")]
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        if let Some(child) = &self.child {
            signal_child(child, signal);
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs one command with `redis-cli` (installed with redis-server) and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Kills the server (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port: empty, since nothing was saved.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.join("redis.log")).expect("create the Redis log");
        let spawned = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(&self.flags)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(log)
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => self.child = Some(child),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed; `make test-tools` installs it (Debian's redis-server)"
            ),
            Err(err) => panic!("cannot start redis-server: {err}"),
        }
        self.wait_until_ready();
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer PING on port {} within {STARTUP:?}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One livenames process, killed when dropped.
pub struct Instance {
    base: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    /// Starts the server binary on a free loopback port with `--redis-url` and `flags`.
    pub fn start(redis: &RedisServer, flags: &[&str]) -> Self {
        Self::try_start_at(&redis.url(), flags).unwrap_or_else(|log| {
            panic!("the instance did not start listening:\n{log}");
        })
    }

    /// [`Instance::start`] with Redis at `redis_url` (a proxy in front of it, say); the log
    /// if it exits without listening (it cannot reach Redis, say).
    pub fn try_start_at(redis_url: &str, flags: &[&str]) -> Result<Self, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--addr", "127.0.0.1:0", "--redis-url", redis_url])
            .args(flags)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server binary starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address, listening) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || keep_log(stdout, &lines, address));
        let Ok(base) = listening.recv_timeout(STARTUP) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(log.lock().unwrap().join("\n"));
        };
        Ok(Self { base, child, log })
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// Kills the process (SIGKILL): a crash, which releases nothing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM, as a deployment's rolling restart does, and waits until it exits.
    pub fn terminate(&mut self) {
        self.ask_to_stop();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns at once: the process shuts down gracefully meanwhile.
    pub fn ask_to_stop(&self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
    }

    /// Freezes the process (SIGSTOP), as a host that stalls does: it runs on at
    /// [`Instance::resume`], its timers and sockets as it left them.
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        signal_child(&self.child, signal);
    }

    /// `http://127.0.0.1:<port>`.
    #[allow(dead_code, reason = "only the fault test hands addresses around")]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// What the process logged so far, for a failing test's message.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `signal` to a child this test started (by its pid); one that is gone is ignored.
fn signal_child(child: &Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, signal);
}

/// Reads the instance's log lines, sending the address once it listens.
fn keep_log(stdout: impl Read, log: &Mutex<Vec<String>>, address: mpsc::Sender<String>) {
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some((_, base)) = line.split_once("listening on ") {
            let _ = address.send(base.trim().to_string());
        }
        log.lock().unwrap().push(line);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
