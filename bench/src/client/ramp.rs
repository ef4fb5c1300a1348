//! Opening many subscribers at a bounded pace, with their connection counts on stderr.

use super::lock;
use super::tally::Tally;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Calls `start` with the index of each of `wanted` subscribers, `per_sec` a second at most,
/// then waits until each has connected or failed: at most `patience` (the connect timeout)
/// after the last one started.
pub async fn ramp(
    wanted: u64,
    per_sec: u64,
    patience: Duration,
    tally: &Mutex<Tally>,
    mut start: impl FnMut(u64),
) {
    let mut pace = tokio::time::interval(Duration::from_secs(1) / per_sec as u32);
    let mut progress = Progress::new(wanted);
    for index in 0..wanted {
        pace.tick().await;
        start(index);
        progress.maybe_report(&lock(tally));
    }
    let last_started = Instant::now();
    while lock(tally).settled() < wanted && last_started.elapsed() <= patience {
        tokio::time::sleep(Duration::from_millis(100)).await;
        progress.maybe_report(&lock(tally));
    }
    progress.report(&lock(tally));
}

/// Connection counts on stderr, once a second.
struct Progress {
    wanted: u64,
    last: Instant,
}

impl Progress {
    fn new(wanted: u64) -> Self {
        Self { wanted, last: Instant::now() }
    }

    fn maybe_report(&mut self, tally: &Tally) {
        if self.last.elapsed() >= Duration::from_secs(1) {
            self.report(tally);
        }
    }

    fn report(&mut self, tally: &Tally) {
        let summary = (tally.open_streams(), tally.settled(), self.wanted);
        eprintln!("sse-load: {} open, {} of {} settled", summary.0, summary.1, summary.2);
        self.last = Instant::now();
    }
}
