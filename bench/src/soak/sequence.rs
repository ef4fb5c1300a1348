//! Whether each connection's data events came in order: `<epoch>-<index>` ids one apart,
//! from the id it resumed after if it did. Gaps and duplicates are counted per connection
//! ([`Sequence`]) and added up over the run ([`Streams`]).

use crate::client::sse::Item;
use crate::client::tally::event_id;
use serde::Serialize;

/// Whether one connection's data events came one after the other.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sequence {
    /// The epoch and index of the last data event, or of the id resumed from.
    last: Option<(u64, u64)>,
    events: u64,
    gaps: u64,
    missing: u64,
    duplicates: u64,
    restarts: u64,
    unreadable: u64,
}

impl Sequence {
    /// A connection that resumes after `last_event_id` (none for a fresh one, which may
    /// start at any event).
    pub fn after(last_event_id: Option<&str>) -> Self {
        Self { last: last_event_id.and_then(event_id), ..Self::default() }
    }

    /// Checks one item of the stream: data events against the last; `event: gap` (the
    /// resumed id was too old) lets the sequence start again.
    pub fn see(&mut self, item: &Item<'_>) {
        let Item::Event(event) = item else { return };
        match event.name {
            "message" => self.data_event(event.id),
            "gap" => {
                self.restarts += 1;
                self.last = None;
            }
            _ => {}
        }
    }

    fn data_event(&mut self, id: &str) {
        self.events += 1;
        let Some((epoch, index)) = event_id(id) else {
            self.unreadable += 1;
            return;
        };
        match self.last {
            Some((last_epoch, last)) if last_epoch == epoch => {
                if index <= last {
                    self.duplicates += 1;
                    return;
                }
                if index > last + 1 {
                    self.gaps += 1;
                    self.missing += index - last - 1;
                }
            }
            // Another run of the server: its ids start again.
            Some(_) => self.restarts += 1,
            None => {}
        }
        self.last = Some((epoch, index));
    }

    /// The id to resume after, as `Last-Event-ID`.
    pub fn last_id(&self) -> Option<String> {
        self.last.map(|(epoch, index)| format!("{epoch}-{index}"))
    }
}

/// The [`Sequence`]s of every connection of a run, added up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Streams {
    pub connections: u64,
    /// Connections closed before their first data event (or that never opened).
    pub connections_without_events: u64,
    pub data_events: u64,
    /// Connections that missed at least one event between two they received.
    pub connections_with_gaps: u64,
    pub gaps: u64,
    pub events_missing: u64,
    /// Connections that received an event they already had, or an older one.
    pub connections_with_duplicates: u64,
    pub duplicates: u64,
    /// `event: gap` or ids of another server run: the sequence started again.
    pub restarts: u64,
    pub unreadable_ids: u64,
}

impl Streams {
    /// Adds one connection's sequence.
    pub fn add(&mut self, sequence: &Sequence) {
        self.connections += 1;
        self.connections_without_events += u64::from(sequence.events == 0);
        self.data_events += sequence.events;
        self.connections_with_gaps += u64::from(sequence.gaps > 0);
        self.gaps += sequence.gaps;
        self.events_missing += sequence.missing;
        self.connections_with_duplicates += u64::from(sequence.duplicates > 0);
        self.duplicates += sequence.duplicates;
        self.restarts += sequence.restarts;
        self.unreadable_ids += sequence.unreadable;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::sse::Event;

    fn message(id: &str) -> Item<'_> {
        Item::Event(Event { id, name: "message", data: b"{}", retry: None, bytes: 10 })
    }

    fn named<'a>(name: &'a str, id: &'a str) -> Item<'a> {
        Item::Event(Event { id, name, data: b"x", retry: None, bytes: 10 })
    }

    fn seen(start: Option<&str>, items: &[Item<'_>]) -> Sequence {
        let mut sequence = Sequence::after(start);
        items.iter().for_each(|item| sequence.see(item));
        sequence
    }

    #[test]
    fn consecutive_events_from_any_start_are_clean() {
        let sequence = seen(None, &[message("17-40"), named("ping", "17-40"), message("17-41")]);
        let mut streams = Streams::default();
        streams.add(&sequence);
        assert_eq!(streams, Streams { connections: 1, data_events: 2, ..Streams::default() });
        assert_eq!(sequence.last_id().as_deref(), Some("17-41"));
    }

    #[test]
    fn gaps_and_duplicates_are_counted_per_connection() {
        let items = [message("17-1"), message("17-4"), message("17-4"), message("17-2")];
        let sequence = seen(None, &items);
        assert_eq!((sequence.gaps, sequence.missing, sequence.duplicates), (1, 2, 2));
        assert_eq!(sequence.last_id().as_deref(), Some("17-4"), "an old event moves nothing");
        let mut streams = Streams::default();
        streams.add(&sequence);
        streams.add(&seen(None, &[message("17-9")]));
        assert_eq!((streams.connections, streams.connections_with_gaps), (2, 1));
        assert_eq!((streams.connections_with_duplicates, streams.data_events), (1, 5));
    }

    #[test]
    fn a_resumed_connection_must_start_right_after_its_id() {
        assert_eq!(seen(Some("17-5"), &[message("17-6")]).gaps, 0);
        assert_eq!(seen(Some("17-5"), &[message("17-5")]).duplicates, 1);
        let late = seen(Some("17-5"), &[message("17-8")]);
        assert_eq!((late.gaps, late.missing), (1, 2));
    }

    #[test]
    fn a_gap_event_or_another_run_starts_the_sequence_again() {
        let too_old = seen(Some("17-5"), &[named("gap", "17-5"), message("17-900")]);
        assert_eq!((too_old.gaps, too_old.restarts), (0, 1));
        let restarted = seen(Some("17-5"), &[message("18-1")]);
        assert_eq!((restarted.gaps, restarted.duplicates, restarted.restarts), (0, 0, 1));
        let unreadable = seen(None, &[message("no index")]);
        assert_eq!((unreadable.events, unreadable.unreadable), (1, 1));
    }
}
