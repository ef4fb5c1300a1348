//! The connections without a request in flight (connecting, reading a head, idle, on this
//! layer's side or hyper's), oldest first: the ones to close when the process runs out of
//! files, so that silent, half-open and idle connections cannot keep new clients out (nginx
//! reuses its idle keep-alive connections the same way).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio_util::sync::CancellationToken;

/// The waiting connections. Cheap to share.
#[derive(Debug, Default)]
pub struct Waiting {
    next: AtomicU64,
    /// By arrival: each one's token, cancelled to close it.
    queue: Mutex<BTreeMap<u64, CancellationToken>>,
}

impl Waiting {
    /// Counts a connection as waiting until the returned guard is dropped; the guard's
    /// token is cancelled if it is shed.
    pub fn enter(self: &Arc<Self>) -> Waiter {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let shed = CancellationToken::new();
        self.queue().insert(seq, shed.clone());
        Waiter { waiting: self.clone(), seq, shed }
    }

    /// Closes the connection that has waited longest; `false` if none is waiting.
    pub fn shed_oldest(&self) -> bool {
        let oldest = self.queue().pop_first();
        oldest.map(|(_, shed)| shed.cancel()).is_some()
    }

    fn queue(&self) -> MutexGuard<'_, BTreeMap<u64, CancellationToken>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One waiting connection.
pub struct Waiter {
    waiting: Arc<Waiting>,
    seq: u64,
    shed: CancellationToken,
}

impl Waiter {
    /// Completes when the connection is shed.
    pub async fn shed(&self) {
        self.shed.cancelled().await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.waiting.queue().remove(&self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_waiter_is_shed_first_and_one_that_left_is_not_counted() {
        let waiting = Arc::new(Waiting::default());
        let first = waiting.enter();
        let second = waiting.enter();
        let third = waiting.enter();
        drop(second);
        assert!(waiting.shed_oldest());
        assert!(first.shed.is_cancelled() && !third.shed.is_cancelled());
        assert!(waiting.shed_oldest());
        assert!(third.shed.is_cancelled());
        assert!(!waiting.shed_oldest(), "nobody waits any more");
    }
}
