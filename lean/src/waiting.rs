//! The connections without a request in flight (connecting, reading a head, idle, on this
//! layer's side or hyper's), oldest first: the ones to close when the process runs out of
//! files, so that silent, half-open and idle connections cannot keep new clients out (nginx
//! reuses its idle keep-alive connections the same way).
//!
//! One shed per file needed: out of files, `accept` fails again until the shed connection's
//! task has closed it, so the acceptor waits for [`Shed`] (the waiter dropped with its
//! connection) before it sheds another. Without that wait, an acceptor that ran ahead of the
//! tasks it shed went on shedding, down to the connection it had just accepted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio_util::sync::CancellationToken;

/// The waiting connections. Cheap to share.
#[derive(Debug, Default)]
pub struct Waiting {
    next: AtomicU64,
    /// By arrival: each one's tokens.
    queue: Mutex<BTreeMap<u64, Tokens>>,
}

/// A waiting connection's tokens: the first cancelled to close it, the second by its waiter's
/// drop.
type Tokens = (CancellationToken, CancellationToken);

impl Waiting {
    /// Counts a connection as waiting until the returned guard is dropped; the guard's
    /// token is cancelled if it is shed.
    pub fn enter(self: &Arc<Self>) -> Waiter {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let (shed, released) = (CancellationToken::new(), CancellationToken::new());
        self.queue().insert(seq, (shed.clone(), released.clone()));
        Waiter { waiting: self.clone(), seq, shed, released }
    }

    /// Closes the connection that has waited longest; `None` if none is waiting.
    pub fn shed_oldest(&self) -> Option<Shed> {
        let (_, (shed, released)) = self.queue().pop_first()?;
        shed.cancel();
        Some(Shed(released))
    }

    fn queue(&self) -> MutexGuard<'_, BTreeMap<u64, Tokens>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection being shed.
pub struct Shed(CancellationToken);

impl Shed {
    /// Completes once its waiter is dropped, which its connection's task does as it closes it.
    pub async fn released(self) {
        self.0.cancelled().await;
    }
}

/// One waiting connection.
pub struct Waiter {
    waiting: Arc<Waiting>,
    seq: u64,
    shed: CancellationToken,
    released: CancellationToken,
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
        self.released.cancel();
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
        assert!(waiting.shed_oldest().is_some());
        assert!(first.shed.is_cancelled() && !third.shed.is_cancelled());
        assert!(waiting.shed_oldest().is_some());
        assert!(third.shed.is_cancelled());
        assert!(waiting.shed_oldest().is_none(), "nobody waits any more");
    }

    #[tokio::test]
    async fn a_shed_is_released_when_its_waiter_is_dropped() {
        let waiting = Arc::new(Waiting::default());
        let waiter = waiting.enter();
        let shed = waiting.shed_oldest().expect("one waits");
        let released = tokio::spawn(shed.released());
        tokio::task::yield_now().await;
        assert!(!released.is_finished(), "released before its waiter was dropped");
        drop(waiter);
        tokio::time::timeout(std::time::Duration::from_secs(5), released).await.unwrap().unwrap();
    }
}
