//! Child processes the benchmarks start (servers, the load tool, the floor's readers): each
//! dies with its parent, and a [`Running`] child is stopped when dropped, also on error.

use crate::Error;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a child gets to exit after `SIGTERM` before `SIGKILL`.
const GRACE: Duration = Duration::from_secs(10);

/// A command for `program` whose process gets `SIGKILL` if this one dies first, so no server
/// outlives an interrupted benchmark.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    // SAFETY: between fork and exec only prctl(2) runs, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    command
}

/// A command for this very program (`sse-load`), to run one of its commands as a child.
pub fn this_program() -> Result<Command, Error> {
    let exe =
        std::env::current_exe().map_err(|err| Error::Io(format!("finding this program: {err}")))?;
    Ok(command(exe))
}

/// A started child, stopped (`SIGTERM`, then `SIGKILL`) when dropped.
#[derive(Debug)]
pub struct Running {
    name: String,
    child: Child,
}

impl Running {
    /// Starts `command`, known in messages as `name`.
    pub fn spawn(name: &str, command: &mut Command) -> Result<Self, Error> {
        let child = command
            .spawn()
            .map_err(|err| Error::Io(format!("starting {name} ({command:?}): {err}")))?;
        Ok(Self { name: name.to_owned(), child })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout, if it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// `Some(description)` once it has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited: {status}", self.name)),
            Ok(None) => None,
            Err(err) => Some(format!("{} cannot be waited for: {err}", self.name)),
        }
    }

    /// Stops it: `SIGTERM`, then `SIGKILL` after a grace period. False when it had to be
    /// killed, so it could not clean up after itself.
    pub fn stop(&mut self) -> bool {
        if self.exited().is_some() {
            return true;
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let asked = Instant::now();
        while asked.elapsed() < GRACE {
            if self.exited().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("sse-load: {} ignored SIGTERM for {GRACE:?}; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
