//! A writer's streams grouped by hub, so that a ring of the doorbell costs visits to the
//! streams of the hubs that published, not to every stream the writer holds.
//!
//! Invariant: [`ByHub::with_news`] returns every stream whose hub's [`News`] moved since the
//! stream was last returned or added, so no event waits for a ping. It holds because a hub
//! moves its count before it rings; a group's count is read before its streams are
//! visited (a later publish moves it again, and rings again); a group seen for the first
//! time is always visited; and a stream that comes, goes or moves marks the groups stale,
//! to be rebuilt from the streams themselves at the next ring.

use sse_hub::News;
use std::collections::HashMap;

/// The streams of each hub, by key, and how far each hub's news was visited.
#[derive(Default)]
pub struct ByHub {
    hubs: HashMap<News, Group>,
    stale: bool,
}

#[derive(Default)]
struct Group {
    /// The hub's count when its streams were last visited; `None` until then.
    visited: Option<u64>,
    keys: Vec<usize>,
}

impl ByHub {
    /// A stream was added, removed or moved to another key.
    pub fn changed(&mut self) {
        self.stale = true;
    }

    /// The keys of the streams whose hub has news, given every stream's key and hub.
    pub fn with_news<'a>(
        &mut self,
        streams: impl IntoIterator<Item = (usize, &'a News)>,
    ) -> Vec<usize> {
        if std::mem::take(&mut self.stale) {
            self.rebuild(streams);
        }
        let mut due = Vec::new();
        for (news, group) in &mut self.hubs {
            let count = news.count();
            if group.visited != Some(count) {
                group.visited = Some(count);
                due.extend_from_slice(&group.keys);
            }
        }
        due
    }

    /// Groups the streams again, keeping what each hub still present had been visited to.
    fn rebuild<'a>(&mut self, streams: impl IntoIterator<Item = (usize, &'a News)>) {
        for group in self.hubs.values_mut() {
            group.keys.clear();
        }
        for (key, news) in streams {
            self.hubs.entry(news.clone()).or_default().keys.push(key);
        }
        self.hubs.retain(|_, group| !group.keys.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sse_hub::{Delivery, Hub, StreamOptions};

    fn deliveries(hub: &Hub<u64>, count: usize) -> Vec<Delivery> {
        let subscribe = || hub.subscribe(None).unwrap().into_delivery(StreamOptions::default());
        (0..count).map(|_| subscribe()).collect()
    }

    fn with_news(by_hub: &mut ByHub, streams: &[Delivery]) -> Vec<usize> {
        let mut keys = by_hub.with_news(streams.iter().map(Delivery::news).enumerate());
        keys.sort_unstable();
        keys
    }

    #[test]
    fn a_ring_visits_only_the_streams_of_hubs_that_published() {
        let (a, b) = (Hub::default(), Hub::default());
        let mut streams = deliveries(&a, 2);
        streams.extend(deliveries(&b, 3));
        let mut by_hub = ByHub::default();
        by_hub.changed();
        assert_eq!(with_news(&mut by_hub, &streams), [0, 1, 2, 3, 4], "new hubs: all");
        assert_eq!(with_news(&mut by_hub, &streams), [] as [usize; 0], "nothing new");
        b.publish(|index| index);
        assert_eq!(with_news(&mut by_hub, &streams), [2, 3, 4]);
        a.publish(|index| index);
        b.publish(|index| index);
        assert_eq!(with_news(&mut by_hub, &streams), [0, 1, 2, 3, 4]);
        a.close("over");
        assert_eq!(with_news(&mut by_hub, &streams), [0, 1], "close is news too");
    }

    #[test]
    fn streams_that_come_and_go_are_grouped_again() {
        let (a, b) = (Hub::default(), Hub::default());
        let mut streams = deliveries(&a, 1);
        let mut by_hub = ByHub::default();
        by_hub.changed();
        assert_eq!(with_news(&mut by_hub, &streams), [0]);
        // A stream of a hub the writer had not seen: visited even though its hub's count
        // did not move, since it may have published while the stream was being adopted.
        streams.extend(deliveries(&b, 1));
        by_hub.changed();
        assert_eq!(with_news(&mut by_hub, &streams), [1]);
        a.publish(|index| index);
        streams.remove(0);
        by_hub.changed();
        assert_eq!(with_news(&mut by_hub, &streams), [] as [usize; 0], "a's only stream left");
        b.publish(|index| index);
        assert_eq!(with_news(&mut by_hub, &streams), [0], "b's stream, at its new key");
    }
}
