//! The hub: history plus fan-out, and where each subscription starts.

use crate::metrics::{HubMetrics, SubscriberCount};
use crate::{CLOSE_EVENT, EventId, GAP_EVENT, frame};
use bytes::Bytes;
use serde::Serialize;
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// One publisher's stream: a bounded history of encoded events and their fan-out to
/// subscribers. Cheap to clone; every clone is the same stream.
pub struct Hub<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Hub<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

struct Inner<T> {
    epoch: u64,
    /// Publishing and subscribing both hold this lock, so a new subscriber's replay and its
    /// live receiver meet exactly: no event is in both, none in neither.
    state: Mutex<State<T>>,
    live: broadcast::Sender<Live>,
    metrics: HubMetrics,
}

struct State<T> {
    /// The last `capacity` events, oldest first, with consecutive indices.
    history: VecDeque<Entry>,
    capacity: usize,
    latest: Option<(EventId, Arc<T>)>,
    next_index: u64,
    /// The `close` frame, once the stream has ended.
    closed: Option<Bytes>,
}

struct Entry {
    index: u64,
    frame: Bytes,
}

/// What subscribers receive live.
#[derive(Clone, Debug)]
pub(crate) enum Live {
    Event { id: EventId, frame: Bytes },
    Close(Bytes),
}

/// Where a subscription starts, decided from the id the client resumes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// No usable id: the latest event at once, then live events.
    Latest,
    /// Every event after this index from history, then live: no gap, no duplicate.
    After(u64),
    /// The id is of another epoch or older than the history: `gap`, the latest event, live.
    Gap,
}

/// A new subscriber's place in the stream; turn it into bytes with
/// [`Subscription::into_stream`](crate::Subscription::into_stream).
pub struct Subscription {
    pub(crate) start: Start,
    /// Frames to send before any live one: replayed events, or `gap` and the latest event.
    pub(crate) backlog: Vec<(Option<EventId>, Bytes)>,
    pub(crate) live: broadcast::Receiver<Live>,
    pub(crate) metrics: HubMetrics,
    /// Keeps this subscriber in the gauge until its stream is dropped.
    pub(crate) counted: SubscriberCount,
}

impl Subscription {
    /// Where this subscription started.
    pub fn start(&self) -> Start {
        self.start
    }
}

impl<T: Serialize> Hub<T> {
    /// A new stream whose epoch is now, keeping the last `history` events for resumes. A
    /// subscriber more than `backlog` events behind the live stream has its stream ended.
    pub fn new(history: NonZeroUsize, backlog: NonZeroUsize) -> Self {
        let (live, _) = broadcast::channel(backlog.get());
        let state = State {
            history: VecDeque::with_capacity(history.get()),
            capacity: history.get(),
            latest: None,
            next_index: 1,
            closed: None,
        };
        let metrics = HubMetrics::default();
        let inner = Inner { epoch: unix_millis_now(), state: Mutex::new(state), live, metrics };
        Self { inner: Arc::new(inner) }
    }

    /// What this hub counts; register it with [`HubMetrics::register`].
    pub fn metrics(&self) -> &HubMetrics {
        &self.inner.metrics
    }

    /// The stream's start in Unix milliseconds: the first half of every id.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// Publishes the next event, built by `make` from its index; encodes it once for all.
    pub fn publish(&self, make: impl FnOnce(u64) -> T) -> EventId {
        let mut state = self.state();
        let id = EventId { epoch: self.inner.epoch, index: state.next_index };
        let event = make(id.index);
        let json = serde_json::to_string(&event).expect("payloads encode to JSON");
        let frame = frame::event(id, &json);
        if state.history.len() == state.capacity {
            state.history.pop_front();
        }
        state.history.push_back(Entry { index: id.index, frame: frame.clone() });
        state.latest = Some((id, Arc::new(event)));
        state.next_index += 1;
        self.inner.metrics.published.inc();
        // No subscribers is not an error: the event waits in history.
        let _ = self.inner.live.send(Live::Event { id, frame });
        id
    }

    /// Ends the stream: subscribers get `close` with `reason`, later ones none at all.
    pub fn close(&self, reason: &str) {
        let mut state = self.state();
        let frame = frame::named(CLOSE_EVENT, reason);
        state.closed = Some(frame.clone());
        let _ = self.inner.live.send(Live::Close(frame));
    }

    /// Whether the stream has ended.
    pub fn is_closed(&self) -> bool {
        self.state().closed.is_some()
    }

    /// The latest event and its id, for a page rendered before it subscribes.
    pub fn latest(&self) -> Option<(EventId, Arc<T>)> {
        self.state().latest.clone()
    }

    /// Subscribes, resuming after `last_event_id` where history allows. A malformed id, or
    /// one from the future, counts as none. `None` once the stream has ended.
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Option<Subscription> {
        let state = self.state();
        if state.closed.is_some() {
            return None;
        }
        let requested = last_event_id.and_then(|raw| match raw.parse::<EventId>() {
            Ok(id) => Some(id),
            Err(_) => {
                tracing::warn!(last_event_id = raw, "ignoring a malformed Last-Event-ID");
                None
            }
        });
        let first = state.history.front().map(|entry| entry.index);
        let last = state.next_index - 1;
        let start = start_for(requested, self.inner.epoch, first, last);
        let metrics = &self.inner.metrics;
        let backlog = match start {
            Start::Latest => latest_frame(&state).into_iter().collect(),
            Start::After(index) => {
                let replay = replay_after(&state, self.inner.epoch, index);
                metrics.replayed.inc_by(replay.len() as u64);
                replay
            }
            Start::Gap => {
                let first_available =
                    EventId { epoch: self.inner.epoch, index: first.unwrap_or(state.next_index) };
                tracing::info!(
                    last_event_id,
                    %first_available,
                    "resume outside the history: sending gap and the latest event"
                );
                metrics.gaps.inc();
                let gap = (None, frame::named(GAP_EVENT, &first_available.to_string()));
                std::iter::once(gap).chain(latest_frame(&state)).collect()
            }
        };
        Some(Subscription {
            start,
            backlog,
            live: self.inner.live.subscribe(),
            metrics: metrics.clone(),
            counted: SubscriberCount::new(&metrics.subscribers),
        })
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock cannot leave the history half-written (every
        // mutation is a single push or assignment), so a poisoned lock is still usable.
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The subscription's start from the requested id and what the history holds
/// (`first..=last`, `first` being `None` while nothing was published).
pub(crate) fn start_for(
    requested: Option<EventId>,
    epoch: u64,
    first: Option<u64>,
    last: u64,
) -> Start {
    let Some(id) = requested else { return Start::Latest };
    if id.epoch != epoch {
        return Start::Gap;
    }
    if id.index > last {
        tracing::warn!(%id, last, "ignoring a Last-Event-ID from the future");
        return Start::Latest;
    }
    match first {
        Some(first) if id.index + 1 < first => Start::Gap,
        _ => Start::After(id.index),
    }
}

fn latest_frame<T>(state: &State<T>) -> Option<(Option<EventId>, Bytes)> {
    let entry = state.history.back()?;
    let (id, _) = state.latest.as_ref()?;
    Some((Some(*id), entry.frame.clone()))
}

fn replay_after<T>(state: &State<T>, epoch: u64, index: u64) -> Vec<(Option<EventId>, Bytes)> {
    state
        .history
        .iter()
        .filter(|entry| entry.index > index)
        .map(|entry| (Some(EventId { epoch, index: entry.index }), entry.frame.clone()))
        .collect()
}

fn unix_millis_now() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    since_epoch.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u64 = 1_000;

    fn id(index: u64) -> Option<EventId> {
        Some(EventId { epoch: EPOCH, index })
    }

    #[test]
    fn start_from_every_position() {
        // History holds 5..=9.
        let first = Some(5);
        for (requested, expected) in [
            (None, Start::Latest),
            (id(4), Start::After(4)), // just before the oldest: replay all of history
            (id(5), Start::After(5)), // first
            (id(7), Start::After(7)), // middle
            (id(9), Start::After(9)), // last: nothing to replay
            (id(3), Start::Gap),      // just outside history
            (id(0), Start::Gap),
            (Some(EventId { epoch: EPOCH - 1, index: 7 }), Start::Gap), // another run
            (Some(EventId { epoch: EPOCH + 1, index: 7 }), Start::Gap),
            (id(10), Start::Latest), // from the future
            (id(u64::MAX), Start::Latest),
        ] {
            assert_eq!(start_for(requested, EPOCH, first, 9), expected, "{requested:?}");
        }
    }

    #[test]
    fn start_before_anything_was_published() {
        assert_eq!(start_for(id(0), EPOCH, None, 0), Start::After(0));
        assert_eq!(start_for(id(1), EPOCH, None, 0), Start::Latest);
        assert_eq!(start_for(Some(EventId { epoch: 1, index: 0 }), EPOCH, None, 0), Start::Gap);
    }
}
