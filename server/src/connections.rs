//! How many SSE streams may be open: the limit, the guard each open stream holds, and the
//! open-files limit behind it.

use crate::refusal::{RefusalBackoff, Refused};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// File descriptors kept for what is not a stream: the listener, the runtime, logs, page
/// and file requests.
const RESERVED_FILES: u64 = 64;

/// The open streams' slots: at most `--max-connections` taken at once. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StreamSlots {
    free: Arc<Semaphore>,
    backoff: Arc<Mutex<RefusalBackoff>>,
    rejected: Counter,
}

impl StreamSlots {
    /// `max` slots; a request turned away is told to come back after a wait drawn around
    /// `retry`, longer the more are turned away ([`RefusalBackoff`]).
    pub fn new(max: u32, retry: Duration) -> Self {
        Self {
            free: Arc::new(Semaphore::new(max as usize)),
            backoff: Arc::new(Mutex::new(RefusalBackoff::new(retry, max))),
            rejected: Counter::default(),
        }
    }

    /// Registers the count of requests turned away.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "connections_rejected",
            "Stream requests turned away because --max-connections streams were open",
            self.rejected.clone(),
        );
    }

    /// A free slot, or how long to wait before asking again.
    pub fn take(&self) -> Result<OwnedSemaphorePermit, Refused> {
        Arc::clone(&self.free).try_acquire_owned().map_err(|_| {
            self.rejected.inc();
            let mut backoff = self.backoff.lock().unwrap_or_else(|poison| poison.into_inner());
            let wait = backoff.refuse(Instant::now(), &mut rand::rng());
            tracing::debug!(?wait, "all stream slots taken; refusing");
            Refused { wait }
        })
    }
}

/// One open stream: holds its slot and logs its end, both when the stream is over and
/// this guard is dropped (`sse_lean::Reply::stream` holds it that long).
#[derive(Debug)]
pub struct OpenStream {
    peer: SocketAddr,
    opened: Instant,
    _slot: OwnedSemaphorePermit,
}

impl OpenStream {
    /// Starts holding `slot` for the subscriber at `peer`.
    pub fn new(peer: SocketAddr, slot: OwnedSemaphorePermit) -> Self {
        Self { peer, opened: Instant::now(), _slot: slot }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let open_for = humantime::format_duration(round_to_millis(self.opened.elapsed()));
        tracing::info!(peer = %self.peer, %open_for, "subscriber disconnected");
    }
}

fn round_to_millis(duration: Duration) -> Duration {
    Duration::from_millis(duration.as_millis() as u64)
}

/// Raises the soft limit on open files to the hard one, logs both, and warns when
/// `max_connections` streams could not all be open at once.
pub fn raise_open_files_limit(max_connections: u32) {
    let raised = match open_files::raise() {
        Ok(open_files::Raised { was, now, hard }) => {
            tracing::info!(was, now, hard, "open-files limit (RLIMIT_NOFILE)");
            now
        }
        Err(err) => {
            tracing::warn!("{err}");
            let Some(soft) = err.soft_limit() else { return };
            soft
        }
    };
    if u64::from(max_connections) + RESERVED_FILES > raised {
        tracing::warn!(
            max_connections,
            open_files = raised,
            "--max-connections is above what the open-files limit allows (each stream takes \
             a file, and {RESERVED_FILES} are kept for the rest): lower it or raise the limit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_and_come_back_when_released() {
        let slots = StreamSlots::new(2, Duration::from_secs(3));
        let first = slots.take().unwrap();
        let _second = slots.take().unwrap();
        let Refused { wait } = slots.take().unwrap_err();
        assert!((Duration::from_secs(1)..=Duration::from_secs(5)).contains(&wait), "{wait:?}");
        assert_eq!(slots.rejected.get(), 1);
        drop(first);
        assert!(slots.take().is_ok());
    }

    #[test]
    fn an_open_stream_holds_its_slot_until_dropped() {
        let slots = StreamSlots::new(1, Duration::from_secs(1));
        let peer = "127.0.0.1:9".parse().unwrap();
        let open = OpenStream::new(peer, slots.take().unwrap());
        assert!(slots.take().is_err(), "the stream holds the slot");
        drop(open);
        assert!(slots.take().is_ok());
    }
}
