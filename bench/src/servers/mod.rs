//! The servers `compare`, `soak` and `nginx` measure, as child processes: the livenames
//! release binary and this program's `baseline`, each on a free loopback port, and nginx in
//! front of livenames ([`nginx`]). Launched by [`ServerOptions::start`], ready once they log
//! their address ([`readiness`]), watched through `/proc` while loaded ([`usage`]), and
//! stopped when their [`Server`] is dropped.

pub mod nginx;
pub mod readiness;
pub mod usage;

use crate::Error;
use crate::child::{Running, command, this_program};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where the livenames server comes from and where started servers log: the flags
/// `compare`, `soak` and `nginx` share.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct ServerOptions {
    /// The livenames server binary to start, built with `cargo build --release -p server`.
    #[arg(long, default_value = "target/release/server")]
    pub server: PathBuf,
    /// Folder for the logs of the servers the run starts.
    #[arg(long, default_value = "target/sse-bench")]
    pub log_dir: PathBuf,
}

/// A started server, listening at `url`; stopped (`SIGTERM`, then `SIGKILL`) when dropped.
#[derive(Debug)]
pub struct Server {
    running: Running,
    /// `http://host:port`, as the server announced it.
    pub url: String,
}

impl Server {
    /// Its process id, for reading its usage.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// Its SSE endpoint.
    pub fn sse_url(&self) -> String {
        format!("{}/sse", self.url)
    }
}

impl ServerOptions {
    /// Fails, naming `--server`, unless it is a file; creates `--log-dir`. Run before
    /// anything starts.
    pub fn check(&self) -> Result<(), Error> {
        if !self.server.is_file() {
            let why = format!(
                "{} is not a file: build it with `cargo build --release -p server`",
                self.server.display()
            );
            return Err(Error::Flag { flag: "--server", why });
        }
        std::fs::create_dir_all(&self.log_dir).map_err(|err| {
            Error::Io(format!("creating --log-dir {}: {err}", self.log_dir.display()))
        })
    }

    /// The livenames server on a free loopback port, publishing every `interval_ms` and
    /// allowed more streams than the run's `subscribers`.
    pub fn livenames(&self, subscribers: u64, interval_ms: u64) -> Command {
        let mut server = command(&self.server);
        let max_connections = (subscribers + 1000).max(10_000);
        server.args(["--addr", "127.0.0.1:0", "--interval-ms", &interval_ms.to_string()]);
        server.args(["--max-connections", &max_connections.to_string()]);
        server
    }

    /// Starts `server`, logging to `<log_dir>/<name>.log`, and returns it once it listens.
    pub fn start(&self, name: &str, mut server: Command) -> Result<Server, Error> {
        let log_path = self.log_dir.join(format!("{name}.log"));
        let log = File::create(&log_path)
            .map_err(|err| Error::Io(format!("creating {}: {err}", log_path.display())))?;
        let log_err = log.try_clone().map_err(|err| Error::Io(err.to_string()))?;
        server.stdout(log).stderr(log_err).stdin(Stdio::null());
        let mut running = Running::spawn(name, &mut server)?;
        let url = readiness::wait_for_url(&mut running, &log_path)?;
        eprintln!("sse-load: {name} (pid {}) at {url}, log {}", running.pid(), log_path.display());
        Ok(Server { running, url })
    }
}

/// This program's `baseline` on a free loopback port, publishing every `interval_ms`.
pub fn baseline(interval_ms: u64) -> Result<Command, Error> {
    let mut server = this_program()?;
    server.args(["baseline", "--addr", "127.0.0.1:0", "--interval-ms", &interval_ms.to_string()]);
    Ok(server)
}
