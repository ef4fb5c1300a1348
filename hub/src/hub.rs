//! The hub: history plus fan-out, and where each subscription starts.

use crate::data::Data;
use crate::metrics::{HubMetrics, SubscriberCount};
use crate::{CLOSE_EVENT, EventId, EventName, GAP_EVENT, frame};
use bytes::Bytes;
use serde::Serialize;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, watch};

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
    /// Publishing and subscribing both hold this lock, so a new subscriber's replay and its
    /// live receiver meet exactly: no event is in both, none in neither.
    state: Mutex<State<T>>,
    live: broadcast::Sender<Live>,
    news: News,
    metrics: HubMetrics,
}

struct State<T> {
    /// The stream's start in Unix milliseconds: the first half of every id. Fixed, but for a
    /// stream shared with other processes that agree on another one.
    epoch: u64,
    /// The last `capacity` events, oldest first, in increasing order: consecutive, but where
    /// a shared log lost entries (a resume from before such a hole gets a `gap`).
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
    Event {
        id: EventId,
        frame: Bytes,
    },
    Close(Bytes),
    /// The shared log lost the events before `first_available`: subscribers that had not
    /// seen them get the `gap` frame before the next event.
    #[cfg(feature = "redis")]
    Gap {
        first_available: EventId,
        frame: Bytes,
    },
    /// The stream moved to another epoch: subscribers' streams end, and their clients
    /// resume in the new one. Only a stream shared through a log (`redis`) moves.
    #[cfg(feature = "redis")]
    Restart,
}

/// Events read from a shared log for one resume.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    /// Consecutive encoded events (index, frame) from the resume point on.
    pub(crate) entries: Vec<(u64, Bytes)>,
    /// The log could not be read: a resume point of this epoch past the local history is
    /// taken as real (another process sent it), so nothing up to it is sent again.
    pub(crate) unreadable: bool,
}

/// Rung by every hub of the process each time it has something new for live subscribers.
static BELL: LazyLock<watch::Sender<()>> = LazyLock::new(|| watch::Sender::new(()));

/// Rings when any hub in the process has something new for live subscribers (an event,
/// `close`, a `gap`): for a writer that drives many deliveries, of any number of hubs, with
/// [`Delivery::try_next`](crate::Delivery::try_next) and must know when to try them again.
/// Rings that come together ring once; none is lost between two waits.
#[derive(Clone, Debug)]
pub struct Doorbell(watch::Receiver<()>);

impl Default for Doorbell {
    fn default() -> Self {
        Self::new()
    }
}

impl Doorbell {
    /// A doorbell that rings for what every hub publishes from now on.
    pub fn new() -> Self {
        Self(BELL.subscribe())
    }

    /// Waits for the next ring after the last one waited for.
    pub async fn rung(&mut self) {
        // The sender is a static, never dropped: `changed` never fails.
        let _ = self.0.changed().await;
    }
}

/// How many times a hub has had something new for live subscribers: a writer that drives
/// deliveries of many hubs groups them by hub (two `News` are equal when they are of the same
/// hub) and, when the [`Doorbell`] rings, tries only those of hubs whose count moved since it
/// last tried them. The count moves before the doorbell rings.
#[derive(Clone, Debug)]
pub struct News(Arc<AtomicU64>);

impl News {
    /// The count now.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn moved(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

impl PartialEq for News {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for News {}

impl Hash for News {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
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
    pub(crate) news: News,
    /// The client already has every event up to this index (its resume point, 0 for none);
    /// the stream never sends an index at or below the last one it sent.
    pub(crate) seen_through: u64,
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

impl<T: Serialize> Default for Hub<T> {
    /// A new stream keeping the last 1,024 events for resumes, whose subscribers may fall
    /// 64 events behind.
    fn default() -> Self {
        const HISTORY: NonZeroUsize = NonZeroUsize::new(1024).unwrap();
        const BACKLOG: NonZeroUsize = NonZeroUsize::new(64).unwrap();
        Self::new(HISTORY, BACKLOG)
    }
}

impl<T: Serialize> Hub<T> {
    /// A new stream whose epoch is now, keeping the last `history` events for resumes. A
    /// subscriber more than `backlog` events behind the live stream has its stream ended.
    pub fn new(history: NonZeroUsize, backlog: NonZeroUsize) -> Self {
        Self::with_epoch(unix_millis_now(), history, backlog)
    }

    /// A new stream with the given epoch: for a stream that several processes share, whose
    /// epoch is decided once for all of them.
    pub fn with_epoch(epoch: u64, history: NonZeroUsize, backlog: NonZeroUsize) -> Self {
        let (live, _) = broadcast::channel(backlog.get());
        let state = State {
            epoch,
            history: VecDeque::with_capacity(history.get()),
            capacity: history.get(),
            latest: None,
            next_index: 1,
            closed: None,
        };
        let metrics = HubMetrics::default();
        let inner = Inner { state: Mutex::new(state), live, news: News(Arc::default()), metrics };
        Self { inner: Arc::new(inner) }
    }

    /// What this hub counts; register it with [`HubMetrics::register`].
    pub fn metrics(&self) -> &HubMetrics {
        &self.inner.metrics
    }

    /// The stream's start in Unix milliseconds: the first half of every id.
    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// Publishes the next event, built by `make` from its index; encodes it once for all.
    /// A page receives it with `onmessage`.
    pub fn publish(&self, make: impl FnOnce(u64) -> T) -> EventId {
        self.publish_named(&EventName::MESSAGE, make)
    }

    /// Publishes the next event as [`Hub::publish`] does, under `name`: a page receives it
    /// with `addEventListener(name, ...)`, and a resume replays it under the same name.
    pub fn publish_named(&self, name: &EventName, make: impl FnOnce(u64) -> T) -> EventId {
        let mut state = self.state();
        let id = EventId { epoch: state.epoch, index: state.next_index };
        let event = make(id.index);
        let data = Data::encode(&event);
        self.push(&mut state, id, name, data.as_str(), event);
        id
    }

    #[cfg(feature = "redis")]
    /// Adds an event published elsewhere (by another process, through a shared log), already
    /// encoded as `data`, with its id and name. An index at or below the last one is a duplicate and
    /// is dropped (`Ok(false)`), as is one of another epoch than the hub's (it moved on while
    /// the event was read). An index past the next one means the log lost the events in
    /// between: live subscribers get a `gap` before it, and the history keeps the hole, so a
    /// resume from before it gets a `gap` too. Nothing is skipped silently.
    pub(crate) fn ingest(
        &self,
        id: EventId,
        name: &EventName,
        data: &Data,
    ) -> Result<bool, serde_json::Error>
    where
        T: serde::de::DeserializeOwned,
    {
        let event: T = data.decode()?;
        let mut state = self.state();
        if id.index < state.next_index || id.epoch != state.epoch {
            return Ok(false);
        }
        if state.next_index > 1 && id.index > state.next_index {
            self.announce_hole(&state, id);
        }
        self.push(&mut state, id, name, data.as_str(), event);
        Ok(true)
    }

    #[cfg(feature = "redis")]
    /// Tells live subscribers that the events from the next index up to `first_available`
    /// are lost: the log was trimmed or emptied past this process while it could not read.
    fn announce_hole(&self, state: &State<T>, first_available: EventId) {
        let lost = state.next_index..first_available.index;
        tracing::warn!(
            ?lost,
            "the shared log no longer holds these events: sending gap to live subscribers"
        );
        self.inner.metrics.holes.inc();
        let frame = frame::named(GAP_EVENT, &first_available.to_string());
        self.send_live(Live::Gap { first_available, frame });
    }

    /// Appends one event to history and sends it to live subscribers.
    fn push(&self, state: &mut State<T>, id: EventId, name: &EventName, data: &str, event: T) {
        let frame = frame::event(id, name, data);
        if state.history.len() == state.capacity {
            state.history.pop_front();
        }
        state.history.push_back(Entry { index: id.index, frame: frame.clone() });
        state.latest = Some((id, Arc::new(event)));
        state.next_index = id.index + 1;
        self.inner.metrics.published.inc();
        self.send_live(Live::Event { id, frame });
    }

    /// Sends `live` to live subscribers, and moves the hub's [`News`] and rings every
    /// [`Doorbell`] after.
    fn send_live(&self, live: Live) {
        // No subscribers is not an error: an event waits in history.
        let _ = self.inner.live.send(live);
        self.inner.news.moved();
        BELL.send_modify(|()| {});
    }

    /// The index of the latest event, 0 before the first one.
    pub fn last_index(&self) -> u64 {
        self.state().next_index - 1
    }

    #[cfg(feature = "redis")]
    /// How many entries of the shared log, from `id`'s index on, a resume after `id` needs
    /// that this process does not hold: those before the local history, or a history's worth
    /// when `id` is newer than the latest local event (the log may be ahead of this process).
    /// `None` when the local history serves it, or `id` is of another epoch.
    pub(crate) fn backfill(&self, id: EventId) -> Option<u64> {
        let state = self.state();
        let first = state.history.front().map_or(state.next_index, |entry| entry.index);
        if id.epoch != state.epoch {
            None
        } else if id.index + 1 < first {
            Some(first - id.index)
        } else if id.index >= state.next_index {
            Some(state.capacity as u64 + 1)
        } else {
            None
        }
    }

    #[cfg(feature = "redis")]
    /// Starts over in `epoch`, empty, to be fed from the shared log again: the processes
    /// agreed on another stream than this one. Open streams end (without `close`), so their
    /// clients resume in the new epoch: with a `gap`, as their ids are of the old one.
    pub(crate) fn restart(&self, epoch: u64) {
        let mut state = self.state();
        if state.epoch == epoch {
            return; // The reader and the leader may both learn of it.
        }
        state.epoch = epoch;
        state.history.clear();
        state.latest = None;
        state.next_index = 1;
        self.send_live(Live::Restart);
    }

    /// Ends the stream: subscribers get `close` with `reason`, later ones none at all.
    pub fn close(&self, reason: &str) {
        let mut state = self.state();
        let frame = frame::named(CLOSE_EVENT, reason);
        state.closed = Some(frame.clone());
        self.send_live(Live::Close(frame));
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
        self.subscribe_with(last_event_id, Fetched::default())
    }

    /// Subscribes as [`Hub::subscribe`] does, with events `fetched` from a shared log, which
    /// extend the local history on either side.
    pub(crate) fn subscribe_with(
        &self,
        last_event_id: Option<&str>,
        fetched: Fetched,
    ) -> Option<Subscription> {
        let state = self.state();
        if state.closed.is_some() {
            return None;
        }
        let requested = last_event_id.and_then(parse_last_event_id);
        let vouched = match requested {
            Some(id) if fetched.unreadable && id.epoch == state.epoch => id.index,
            _ => 0,
        };
        let known = merge_history(&state, fetched.entries);
        let first = known.first().map(|(index, _)| *index);
        let last =
            known.last().map_or(0, |(index, _)| *index).max(state.next_index - 1).max(vouched);
        let start = start_for(requested, state.epoch, first, last);
        let metrics = &self.inner.metrics;
        let backlog = match start {
            Start::Latest => latest_frame(&state).into_iter().collect(),
            Start::After(index) => {
                let replay = replay_after(&known, state.epoch, index);
                metrics.replayed.inc_by(replay.len() as u64);
                replay
            }
            Start::Gap => {
                let first_available =
                    EventId { epoch: state.epoch, index: first.unwrap_or(state.next_index) };
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
            news: self.inner.news.clone(),
            seen_through: match start {
                Start::After(index) => index,
                Start::Latest | Start::Gap => 0,
            },
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
        tracing::info!(%id, last, "ignoring a Last-Event-ID from the future");
        return Start::Latest;
    }
    match first {
        Some(first) if id.index + 1 < first => Start::Gap,
        _ => Start::After(id.index),
    }
}

fn parse_last_event_id(raw: &str) -> Option<EventId> {
    match raw.parse::<EventId>() {
        Ok(id) => Some(id),
        Err(_) => {
            tracing::debug!(last_event_id = raw, "ignoring a malformed Last-Event-ID");
            None
        }
    }
}

/// Every event known here, oldest first: `fetched` ones older than the local history, the
/// local history, then `fetched` ones newer than it (a shared log read ahead of this process).
fn merge_history<T>(state: &State<T>, fetched: Vec<(u64, Bytes)>) -> Vec<(u64, Bytes)> {
    let local_first = state.history.front().map_or(u64::MAX, |entry| entry.index);
    let local_last = state.next_index - 1;
    let (mut known, newer): (Vec<_>, Vec<_>) = fetched
        .into_iter()
        .filter(|(index, _)| *index < local_first || *index > local_last)
        .partition(|(index, _)| *index < local_first);
    known.extend(state.history.iter().map(|entry| (entry.index, entry.frame.clone())));
    known.extend(newer);
    // Only the run of consecutive indices that ends at the latest can be replayed: a resume
    // from before a hole (a log that lost entries) is a gap.
    let run_start = known.windows(2).rposition(|pair| pair[1].0 != pair[0].0 + 1);
    known.split_off(run_start.map_or(0, |hole| hole + 1))
}

fn latest_frame<T>(state: &State<T>) -> Option<(Option<EventId>, Bytes)> {
    let entry = state.history.back()?;
    let (id, _) = state.latest.as_ref()?;
    Some((Some(*id), entry.frame.clone()))
}

fn replay_after(known: &[(u64, Bytes)], epoch: u64, index: u64) -> Vec<(Option<EventId>, Bytes)> {
    known
        .iter()
        .filter(|(known_index, _)| *known_index > index)
        .map(|(known_index, frame)| (Some(EventId { epoch, index: *known_index }), frame.clone()))
        .collect()
}

pub(crate) fn unix_millis_now() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    since_epoch.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u64 = 1_000;
    #[cfg(feature = "redis")]
    const MESSAGE: &EventName = &EventName::MESSAGE;

    /// An event's data as a shared log holds JSON.
    #[cfg(feature = "redis")]
    fn json(data: &str) -> Data {
        Data::Json(data.to_owned())
    }

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

    /// A hub fed from a shared log (`ingest`, `subscribe_with`), as `RedisHub` feeds it.
    #[cfg(feature = "redis")]
    mod fed_from_a_log {
        use super::*;

        fn hub_with(indices: impl IntoIterator<Item = u64>) -> Hub<u64> {
            let size = NonZeroUsize::new(4).unwrap();
            let hub = Hub::with_epoch(EPOCH, size, size);
            for index in indices {
                hub.ingest(at(index), MESSAGE, &json(&index.to_string())).unwrap();
            }
            hub
        }

        fn at(index: u64) -> EventId {
            EventId { epoch: EPOCH, index }
        }

        fn fetched(indices: impl IntoIterator<Item = u64>) -> Fetched {
            let entries = indices
                .into_iter()
                .map(|index| (index, frame::event(at(index), MESSAGE, &index.to_string())))
                .collect();
            Fetched { entries, unreadable: false }
        }

        fn replayed(subscription: &Subscription) -> Vec<u64> {
            subscription.backlog.iter().filter_map(|(id, _)| id.map(|id| id.index)).collect()
        }

        #[test]
        fn ingest_drops_what_it_has_and_takes_what_is_later() {
            let hub = hub_with([1, 2, 3]);
            assert!(!hub.ingest(at(3), MESSAGE, &json("3")).unwrap(), "a duplicate");
            assert!(!hub.ingest(at(2), MESSAGE, &json("2")).unwrap(), "an older one");
            let other_epoch = EventId { epoch: EPOCH + 1, index: 4 };
            assert!(!hub.ingest(other_epoch, MESSAGE, &json("4")).unwrap(), "one of another epoch");
            assert!(
                hub.ingest(at(5), MESSAGE, &json("5")).unwrap(),
                "a later one, past a lost index"
            );
            assert_eq!(hub.last_index(), 5);
            assert_eq!(hub.latest().map(|(id, event)| (id.index, *event)), Some((5, 5)));
            assert!(hub.ingest(at(6), MESSAGE, &json("not JSON")).is_err());
            assert_eq!(hub.last_index(), 5, "nothing of a bad entry is kept");
        }

        #[test]
        fn entries_from_the_log_extend_the_local_history_on_both_sides() {
            let hub = hub_with(1..=10); // keeps 7..=10
            assert_eq!(hub.backfill(at(2)), Some(5), "2..=6, up to the local 7..=10");
            assert_eq!(hub.backfill(at(6)), None);
            assert_eq!(hub.backfill(at(10)), None, "the latest here");
            assert_eq!(hub.backfill(at(11)), Some(5), "the log may be ahead: a history's worth");
            assert_eq!(hub.backfill(EventId { epoch: EPOCH + 1, index: 2 }), None);
            let older = hub.subscribe_with(Some("1000-2"), fetched(2..=12)).unwrap();
            assert_eq!((older.start, replayed(&older)), (Start::After(2), (3..=12).collect()));
            let ahead = hub.subscribe_with(Some("1000-11"), fetched(11..=12)).unwrap();
            assert_eq!(
                (ahead.start, replayed(&ahead), ahead.seen_through),
                (Start::After(11), vec![12], 11)
            );
            let unknown = hub.subscribe_with(Some("1000-11"), fetched([])).unwrap();
            assert_eq!(unknown.start, Start::Latest, "an id the log denies counts as none");
            let unreadable = Fetched { entries: Vec::new(), unreadable: true };
            let vouched = hub.subscribe_with(Some("1000-11"), unreadable).unwrap();
            assert_eq!((vouched.start, replayed(&vouched)), (Start::After(11), vec![]));
            assert_eq!(vouched.seen_through, 11, "without Redis, nothing up to 11 is sent again");
        }

        #[tokio::test]
        async fn a_stream_never_sends_an_index_twice_when_the_log_was_ahead() {
            use futures::StreamExt;
            let hub = hub_with(1..=10);
            let ahead = hub.subscribe_with(Some("1000-11"), fetched(11..=12)).unwrap();
            let mut body = Box::pin(ahead.into_stream(quiet_stream()));
            for index in 11..=13 {
                hub.ingest(at(index), MESSAGE, &json(&index.to_string())).unwrap(); // the local reader catches up
            }
            let mut ids = Vec::new();
            while ids.len() < 2 {
                let frame = body.next().await.unwrap().unwrap();
                let text = std::str::from_utf8(&frame).unwrap().to_string();
                ids.extend(
                    text.strip_prefix("id: ").map(|rest| rest.lines().next().unwrap().to_string()),
                );
            }
            assert_eq!(ids, ["1000-12", "1000-13"], "11 is the resume point, 12 came from the log");
        }

        /// Options for a stream that sends no heartbeat within a test.
        fn quiet_stream() -> crate::StreamOptions {
            crate::StreamOptions {
                retry: std::time::Duration::from_secs(1),
                heartbeat: std::time::Duration::from_secs(3600),
                limit: None,
                stop: Default::default(),
            }
        }

        #[tokio::test]
        async fn a_restart_ends_open_streams_and_starts_over_in_the_new_epoch() {
            use futures::StreamExt;
            let hub = hub_with(1..=3);
            let open = hub.subscribe(None).unwrap();
            let mut body = Box::pin(open.into_stream(quiet_stream()));
            for frame in ["retry", "id"] {
                let sent = body.next().await.unwrap().unwrap();
                assert!(sent.starts_with(frame.as_bytes()), "the latest event: {sent:?}");
            }
            hub.restart(EPOCH + 1);
            assert!(body.next().await.is_none(), "the stream ends, without close");
            assert_eq!((hub.epoch(), hub.last_index()), (EPOCH + 1, 0));
            assert!(hub.latest().is_none());
            let old_id = hub.subscribe(Some("1000-3")).unwrap();
            assert_eq!(old_id.start, Start::Gap, "an id of the old epoch");
            let new_epoch = EventId { epoch: EPOCH + 1, index: 7 };
            assert!(
                !hub.ingest(at(8), MESSAGE, &json("8")).unwrap(),
                "an event of the old epoch, read late"
            );
            assert!(
                hub.ingest(new_epoch, MESSAGE, &json("7")).unwrap(),
                "fed from the log again, wherever it is"
            );
            assert_eq!(hub.latest().unwrap().0, new_epoch);
        }

        /// The `event:` names and ids (or gap data) a stream sends, `retry:` and pings left out.
        async fn next_frames(
            body: &mut (impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Unpin),
            count: usize,
        ) -> Vec<String> {
            use futures::StreamExt;
            let mut seen = Vec::new();
            while seen.len() < count {
                let frame = body.next().await.unwrap().unwrap();
                let text = std::str::from_utf8(&frame).unwrap();
                if let Some(id) = text.strip_prefix("id: ") {
                    seen.push(id.lines().next().unwrap().to_string());
                } else if text.starts_with("event: gap") {
                    seen.push(format!("gap {}", text.lines().nth(1).unwrap()));
                }
            }
            seen
        }

        #[tokio::test]
        async fn a_hole_in_the_log_reaches_live_subscribers_as_a_gap() {
            let hub = hub_with(1..=3);
            let live = hub.subscribe(None).unwrap();
            let mut body = Box::pin(live.into_stream(quiet_stream()));
            let resumed_past = hub.subscribe_with(Some("1000-9"), fetched(9..=9)).unwrap();
            let mut past = Box::pin(resumed_past.into_stream(quiet_stream()));
            for index in [4, 9, 10] {
                hub.ingest(at(index), MESSAGE, &json(&index.to_string())).unwrap(); // 5..=8 never come
            }
            assert_eq!(
                next_frames(&mut body, 5).await,
                ["1000-3", "1000-4", "gap data: 1000-9", "1000-9", "1000-10"]
            );
            assert_eq!(next_frames(&mut past, 1).await, ["1000-10"], "it lost nothing: no gap");
            assert_eq!(hub.metrics().holes.get(), 1);
            let before_the_hole = hub.subscribe(Some("1000-4")).unwrap();
            assert_eq!(before_the_hole.start, Start::Gap, "the history keeps the hole");
        }

        #[test]
        fn a_resume_from_before_a_hole_is_a_gap() {
            let hub = hub_with(1..=10); // keeps 7..=10
            let holed = hub.subscribe_with(Some("1000-2"), fetched([3, 4])).unwrap();
            assert_eq!(holed.start, Start::Gap, "5 and 6 are nowhere");
            let lost = hub_with([1, 2, 5, 6]);
            assert_eq!(lost.subscribe(Some("1000-1")).unwrap().start, Start::Gap);
            let after_hole = lost.subscribe(Some("1000-4")).unwrap();
            assert_eq!((after_hole.start, replayed(&after_hole)), (Start::After(4), vec![5, 6]));
        }
    }
}
