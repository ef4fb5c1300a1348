//! What the server under load spends, read from `/proc/<pid>` when its pid is known: before
//! the subscribers connect, while they are connected, and once they have all left. The same
//! for a proxy in front of it, summed over its process and its workers.

use crate::Error;
use crate::procfs::{self, Usage};
use std::time::{Duration, Instant};

/// How long the server may take to close its ends of the connections after they all left.
pub const LEAVE_PATIENCE: Duration = Duration::from_secs(60);
/// Open files a server may hold beyond its count before the run once all have left.
const FILES_SLACK: u64 = 4;

/// The server's usage now; `None` without a pid.
pub fn usage(pid: Option<u32>) -> Result<Option<Usage>, Error> {
    pid.map(procfs::usage).transpose()
}

/// The usage of the proxy `pid` and its child processes (nginx's master and workers) now;
/// `None` without a pid.
pub fn proxy_usage(pid: Option<u32>) -> Result<Option<Usage>, Error> {
    pid.map(procfs::tree_usage).transpose()
}

/// The server's usage once it has closed its ends of the connections (its open files back
/// to `before`'s, waiting at most [`LEAVE_PATIENCE`]) and `settle` more has passed: how much
/// of what the subscribers cost it gives back once they are gone.
pub async fn after_leaving(
    pid: Option<u32>,
    before: Option<Usage>,
    settle: Duration,
) -> Result<Option<Usage>, Error> {
    if let (Some(pid), Some(before)) = (pid, before) {
        let started = Instant::now();
        // A server may notice a closed connection only at its next write to it.
        while procfs::open_files(pid)? > before.open_files + FILES_SLACK
            && started.elapsed() < LEAVE_PATIENCE
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(settle).await;
    usage(pid)
}
