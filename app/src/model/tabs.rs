//! The tab protocol: which tab holds the connection, what tabs tell each other, and how a tab
//! that joins (or resumes) catches up with the leader without a gap or a duplicate.
//!
//! A tab that joins says [`TabMessage::Hello`] with the last id it showed. The leader replays
//! what it kept after that id and ends with [`TabMessage::Welcome`]. Live events may overtake
//! the replay, so the joining tab holds everything it gets until the Welcome, then shows the
//! held events in id order ([`Sync`]); the feed drops what it already showed.

use super::connection::Status;
use super::feed::{Item, push_bounded};
use serde::{Deserialize, Serialize};
use sse_hub::EventId;
use std::collections::VecDeque;

/// Items a tab holds while paused, or until the leader's replay arrives; older ones are
/// dropped, and the log then shows a gap.
pub const HELD_LENGTH: usize = 1024;

/// Which tab holds the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// This tab has a connection of its own: the browser cannot share one between tabs.
    Solo,
    /// This tab holds the connection and shares it with the others.
    Leader,
    /// Another tab's connection feeds this one.
    Follower,
}

impl Role {
    /// Stable name for the DOM (`data-role`) and for tests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Solo => "solo",
            Self::Leader => "leader",
            Self::Follower => "follower",
        }
    }

    /// Whether this tab has an `EventSource` of its own (when not paused).
    pub fn holds_connection(self) -> bool {
        self != Self::Follower
    }
}

/// What one tab tells the others. Sent as one JSON text: events travel as data, not as JSON
/// inside JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TabMessage {
    /// What the leader's connection brought (or replays).
    Item(Item),
    /// The connection's state changed.
    Status(Status),
    /// Tab `tab` joined or resumed, having every event up to `after`: the leader replays what
    /// it kept after that, then sends `Welcome`.
    Hello { tab: u32, after: Option<EventId> },
    /// The end of the replay for tab `tab`, and how the connection is.
    Welcome { tab: u32, status: Status },
}

/// A tab's part in catching up: who it is, and what it holds back until it may show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sync {
    /// Tells this tab's Hello and Welcome from other tabs'; drawn when joining.
    pub tab: u32,
    /// From saying Hello until the leader's Welcome.
    syncing: bool,
    held: VecDeque<Item>,
}

impl Sync {
    /// Starts catching up after `after`: the Hello to send.
    pub fn hello(&mut self, after: Option<EventId>) -> TabMessage {
        self.syncing = true;
        TabMessage::Hello { tab: self.tab, after }
    }

    pub fn is_syncing(&self) -> bool {
        self.syncing
    }

    /// Whether `welcome` ends this tab's catching up.
    pub fn is_welcomed(&self, tab: u32) -> bool {
        self.syncing && tab == self.tab
    }

    /// Keeps `item` to show later.
    pub fn hold(&mut self, item: Item) {
        push_bounded(&mut self.held, item, HELD_LENGTH);
    }

    /// Ends catching up: what was held, in id order (an unreadable event first, where it
    /// only sets the notice).
    pub fn release(&mut self) -> Vec<Item> {
        self.syncing = false;
        let mut items = Vec::from(std::mem::take(&mut self.held));
        items.sort_by_key(Item::event_id);
        items
    }

    /// Drops what was held: the tab's own connection replays everything after its last id.
    pub fn reset(&mut self) {
        self.syncing = false;
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::feed::tests::{data, id};

    #[test]
    fn held_items_come_out_in_id_order() {
        let mut sync = Sync { tab: 9, ..Sync::default() };
        assert_eq!(sync.hello(Some(id(2))), TabMessage::Hello { tab: 9, after: Some(id(2)) });
        assert!(sync.is_welcomed(9) && !sync.is_welcomed(8));
        [5, 3, 4].into_iter().for_each(|index| sync.hold(data(index)));
        let order: Vec<_> = sync.release().iter().filter_map(Item::event_id).collect();
        assert_eq!(order, [id(3), id(4), id(5)]);
        assert!(!sync.is_syncing());
    }

    #[test]
    fn messages_round_trip_through_json_with_ids_as_text() {
        let hello = TabMessage::Hello { tab: 1, after: Some(id(3)) };
        let text = serde_json::to_string(&hello).unwrap();
        assert_eq!(text, r#"{"Hello":{"tab":1,"after":"7-3"}}"#);
        assert_eq!(serde_json::from_str::<TabMessage>(&text).unwrap(), hello);
        let event = TabMessage::Item(data(4));
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains(r#""event":{"list":[{"name":"赵","value":4}]"#), "{text}");
        assert_eq!(serde_json::from_str::<TabMessage>(&text).unwrap(), event);
    }
}
