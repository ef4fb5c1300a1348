//! What a tab has shown of the stream: the latest event, the event log, the counters, and the
//! id to resume after. Every data event, gap and unreadable event goes through
//! [`Feed::apply`], whether this tab's own connection or another tab's brought it.

use crate::event::{NamesEvent, RenderedEvent};
use serde::{Deserialize, Serialize};
use sse_hub::EventId;
use std::collections::VecDeque;

/// Entries the event log keeps, newest last.
pub const LOG_LENGTH: usize = 20;

/// Data events a tab keeps (the last it showed) to replay, once it leads, to a tab that joins
/// or resumes: any tab may become the leader, and the one that leads may have loaded after a
/// tab that is still catching up.
pub const REPLAY_LENGTH: usize = 64;

/// When a data event arrived where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    /// `Date.now()` at arrival, in ms.
    pub at_ms: f64,
    /// Arrival minus the event's `info` time; `None` if `info` could not be read as a time.
    pub delay_ms: Option<i64>,
}

/// A data event as a tab shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    pub id: EventId,
    pub event: NamesEvent,
    /// `None` for the event the page was rendered with: its arrival is unknown.
    pub arrival: Option<Arrival>,
}

/// What the stream brings, as the feed applies it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Item {
    /// A data event.
    Data(Shown),
    /// The server could not resume: events before `first_available` were skipped.
    Gap { first_available: EventId },
    /// A data event that could not be read; the stream goes on.
    Unreadable { reason: String },
}

impl Item {
    /// The id of a data event, or the first id after a gap: the order items are shown in.
    pub fn event_id(&self) -> Option<EventId> {
        match self {
            Self::Data(Shown { id, .. }) | Self::Gap { first_available: id } => Some(*id),
            Self::Unreadable { .. } => None,
        }
    }
}

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A data event: its id, when the server generated it, and how long it took to arrive
    /// (unknown for the event the page was rendered with).
    Event { id: EventId, info: String, delay_ms: Option<i64> },
    /// Events before `first_available` were skipped.
    Gap { first_available: EventId },
}

/// What a tab shows of the stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Feed {
    /// The latest data event, `None` until the first arrives.
    pub latest: Option<NamesEvent>,
    /// The last [`LOG_LENGTH`] events and gaps, oldest first.
    pub log: VecDeque<LogEntry>,
    /// Data events shown since the page loaded.
    pub received: u64,
    /// When the latest data event arrived (`Date.now()` ms), `None` until one has.
    pub received_at: Option<f64>,
    /// Why the most recent data event was skipped, cleared by the next good one.
    pub skipped: Option<String>,
    /// The newest event shown: where a new connection resumes.
    last_id: Option<EventId>,
    /// The last [`REPLAY_LENGTH`] data events shown, for a tab that joins.
    kept: VecDeque<Shown>,
}

impl Feed {
    /// A feed that starts from the event the page was rendered with, if any.
    pub fn new(rendered: Option<RenderedEvent>) -> Self {
        let mut feed = Self::default();
        if let Some(RenderedEvent { id, event }) = rendered {
            feed.show(Shown { id, event, arrival: None });
        }
        feed
    }

    /// The newest event shown: a new connection resumes after it.
    pub fn resume_id(&self) -> Option<EventId> {
        self.last_id
    }

    /// Shows `item`, unless it is a data event already shown. A data event that skips ahead
    /// of the last one shown is marked with a gap first, unless the gap is marked already.
    pub fn apply(&mut self, item: Item) {
        match item {
            Item::Data(shown) => {
                let follows = continuity(self.last_id, shown.id);
                if follows == Continuity::Repeat {
                    return;
                }
                if follows == Continuity::Jump && !self.ends_with_gap() {
                    self.log_entry(LogEntry::Gap { first_available: shown.id });
                }
                self.show(shown);
                self.received += 1;
            }
            Item::Gap { first_available } => self.log_entry(LogEntry::Gap { first_available }),
            Item::Unreadable { reason } => self.skipped = Some(reason),
        }
    }

    /// The kept data events after `after` (all of them when `None`), oldest first.
    pub fn replay_after(&self, after: Option<EventId>) -> impl Iterator<Item = &Shown> {
        self.kept.iter().filter(move |shown| continuity(after, shown.id) != Continuity::Repeat)
    }

    fn show(&mut self, shown: Shown) {
        let delay_ms = shown.arrival.and_then(|arrival| arrival.delay_ms);
        self.log_entry(LogEntry::Event { id: shown.id, info: shown.event.info.clone(), delay_ms });
        if let Some(arrival) = shown.arrival {
            self.received_at = Some(arrival.at_ms);
        }
        self.latest = Some(shown.event.clone());
        self.skipped = None;
        self.last_id = Some(shown.id);
        push_bounded(&mut self.kept, shown, REPLAY_LENGTH);
    }

    fn log_entry(&mut self, entry: LogEntry) {
        push_bounded(&mut self.log, entry, LOG_LENGTH);
    }

    fn ends_with_gap(&self) -> bool {
        matches!(self.log.back(), Some(LogEntry::Gap { .. }))
    }
}

/// How an event id follows the last one shown.
#[derive(Debug, PartialEq, Eq)]
pub enum Continuity {
    /// The next event, the first, or one of a new run of the server (which says so itself).
    Next,
    /// Already shown: a replay to a tab that had it.
    Repeat,
    /// Events between were missed (a paused tab's queue overflowed, or a replay fell short).
    Jump,
}

/// How `id` follows `previous`.
pub fn continuity(previous: Option<EventId>, id: EventId) -> Continuity {
    let Some(previous) = previous else { return Continuity::Next };
    match (id.epoch == previous.epoch, id.index) {
        (false, _) => Continuity::Next,
        (true, index) if index <= previous.index => Continuity::Repeat,
        (true, index) if index == previous.index + 1 => Continuity::Next,
        (true, _) => Continuity::Jump,
    }
}

/// Appends `item`, dropping the oldest once `queue` holds `limit`.
pub fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, limit: usize) {
    if queue.len() == limit {
        queue.pop_front();
    }
    queue.push_back(item);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::NameEntry;

    pub fn id(index: u64) -> EventId {
        EventId { epoch: 7, index }
    }

    pub fn data(index: u64) -> Item {
        let event = NamesEvent {
            list: vec![NameEntry { name: "赵".into(), value: index as u32 }],
            info: format!("2026-11-29T10:00:{:02}.000Z", index % 60),
            index,
        };
        let arrival = Some(Arrival { at_ms: index as f64, delay_ms: Some(3) });
        Item::Data(Shown { id: id(index), event, arrival })
    }

    /// The log as `index` for events and `-first` for gaps, oldest first.
    pub fn log_of(feed: &Feed) -> Vec<i64> {
        let index = |id: &EventId| id.index as i64;
        let line = |entry: &LogEntry| match entry {
            LogEntry::Event { id, .. } => index(id),
            LogEntry::Gap { first_available } => -index(first_available),
        };
        feed.log.iter().map(line).collect()
    }

    #[test]
    fn a_rendered_event_is_shown_but_not_counted() {
        let Item::Data(Shown { id, event, .. }) = data(4) else { unreachable!() };
        let feed = Feed::new(Some(RenderedEvent { id, event: event.clone() }));
        assert_eq!(feed.latest, Some(event));
        assert_eq!(feed.resume_id(), Some(id));
        assert_eq!((feed.received, feed.received_at), (0, None));
        assert_eq!(
            feed.log,
            [LogEntry::Event { id, info: feed.latest.unwrap().info, delay_ms: None }]
        );
    }

    #[test]
    fn events_are_shown_once_in_order_and_jumps_are_marked() {
        let mut feed = Feed::default();
        [1, 2, 2, 1, 3, 6, 7].into_iter().for_each(|index| feed.apply(data(index)));
        assert_eq!(log_of(&feed), [1, 2, 3, -6, 6, 7]);
        assert_eq!(feed.received, 5);
        assert_eq!(feed.received_at, Some(7.0));
        assert_eq!(feed.resume_id(), Some(id(7)));
    }

    #[test]
    fn a_gap_from_the_server_is_marked_once() {
        let mut feed = Feed::default();
        feed.apply(data(1));
        feed.apply(Item::Gap { first_available: id(10) });
        feed.apply(data(12));
        assert_eq!(log_of(&feed), [1, -10, 12]);
    }

    #[test]
    fn a_new_run_of_the_server_follows_on() {
        let mut feed = Feed::default();
        feed.apply(data(5));
        let Item::Data(mut shown) = data(1) else { unreachable!() };
        shown.id.epoch = 8;
        feed.apply(Item::Data(shown));
        assert_eq!(log_of(&feed), [5, 1]);
        assert_eq!(feed.resume_id(), Some(EventId { epoch: 8, index: 1 }));
    }

    #[test]
    fn an_unreadable_event_is_reported_until_the_next_good_one() {
        let mut feed = Feed::default();
        feed.apply(data(1));
        feed.apply(Item::Unreadable { reason: "missing field `list`".into() });
        assert_eq!(feed.skipped.as_deref(), Some("missing field `list`"));
        assert_eq!(feed.resume_id(), Some(id(1)), "the unreadable event is not resumed after");
        feed.apply(data(2));
        assert_eq!(feed.skipped, None);
    }

    #[test]
    fn the_log_and_the_replay_are_bounded() {
        let mut feed = Feed::default();
        (1..=100).for_each(|index| feed.apply(data(index)));
        assert_eq!(log_of(&feed), (81..=100).collect::<Vec<_>>());
        let replayed: Vec<u64> = feed.replay_after(None).map(|shown| shown.id.index).collect();
        assert_eq!(replayed, (37..=100).collect::<Vec<_>>());
        let after_90: Vec<u64> = feed.replay_after(Some(id(90))).map(|s| s.id.index).collect();
        assert_eq!(after_90, (91..=100).collect::<Vec<_>>());
    }

    #[test]
    fn ids_are_next_repeated_or_a_jump() {
        let other_run = EventId { epoch: 8, index: 1 };
        assert_eq!(continuity(None, id(7)), Continuity::Next);
        assert_eq!(continuity(Some(id(6)), id(7)), Continuity::Next);
        assert_eq!(continuity(Some(id(6)), other_run), Continuity::Next, "a new run says so");
        assert_eq!(continuity(Some(id(6)), id(6)), Continuity::Repeat);
        assert_eq!(continuity(Some(id(6)), id(2)), Continuity::Repeat);
        assert_eq!(continuity(Some(id(6)), id(9)), Continuity::Jump);
    }

    #[test]
    fn a_bounded_queue_drops_its_oldest() {
        let mut queue = VecDeque::new();
        (1..=5).for_each(|n| push_bounded(&mut queue, n, 3));
        assert_eq!(queue, [3, 4, 5]);
    }
}
