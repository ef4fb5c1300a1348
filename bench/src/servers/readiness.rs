//! When a started server is ready: once its log says `listening on http://…`, which both
//! livenames and the baseline print with the address they chose.

use crate::Error;
use crate::child::Running;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a server may take to print the address it listens on.
pub const START_PATIENCE: Duration = Duration::from_secs(30);
/// Text both servers print once listening, followed by their URL.
const LISTENING: &str = "listening on http://";

/// The server's URL, from the line it logs to `log` once listening; fails if it exits first
/// or takes longer than [`START_PATIENCE`].
pub fn wait_for_url(server: &mut Running, log: &Path) -> Result<String, Error> {
    let started = Instant::now();
    while started.elapsed() < START_PATIENCE {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(url) = listening_url(&text) {
            return Ok(url);
        }
        if let Some(exit) = server.exited() {
            return Err(Error::Io(format!("{exit} before listening; see {}", log.display())));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::Io(format!("no `{LISTENING}` line in {} after {START_PATIENCE:?}", log.display())))
}

/// `http://host:port` from the first line that announces it.
fn listening_url(log: &str) -> Option<String> {
    let start = log.find(LISTENING)?;
    let rest = &log[start + LISTENING.len()..];
    let end = rest.find(|c: char| c.is_whitespace())?;
    Some(format!("http://{}", &rest[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_url_in_either_servers_log() {
        let livenames =
            "2026-11-24T10:00:00.000Z  INFO server: listening on http://127.0.0.1:41234\n";
        assert_eq!(listening_url(livenames).as_deref(), Some("http://127.0.0.1:41234"));
        assert_eq!(
            listening_url("listening on http://127.0.0.1:5\n").as_deref(),
            Some("http://127.0.0.1:5")
        );
        assert_eq!(listening_url("starting\n"), None);
        assert_eq!(listening_url("listening on http://127.0.0.1:5"), None, "line not complete yet");
    }
}
