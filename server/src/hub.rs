//! The shared stream: one generator publishes into the hub, every `/sse` connection
//! subscribes to it. Each event's JSON is encoded once, however many subscribers read it.

use app::event::{EventId, NamesEvent};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Events a subscriber may fall behind by before its stream is ended (its browser then
/// reconnects); bounds the memory a slow reader costs.
const SUBSCRIBER_BACKLOG: usize = 64;

/// One item of the stream, as every subscriber receives it.
#[derive(Clone, Debug)]
pub enum StreamItem {
    /// A data event with its JSON payload, encoded once.
    Data { id: EventId, json: Arc<str> },
    /// The stream is over; the reason reaches browsers as `event: close`.
    End { reason: Arc<str> },
}

/// Fan-out of the stream to its subscribers; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// When the stream started, in Unix milliseconds: the first half of every event id.
    epoch: u64,
    sender: broadcast::Sender<StreamItem>,
    /// Set before the `End` item is sent, so a subscriber either sees it set or gets `End`.
    ended: AtomicBool,
}

impl Hub {
    /// A new stream whose epoch is now.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(SUBSCRIBER_BACKLOG);
        let inner = Inner { epoch: unix_millis_now(), sender, ended: AtomicBool::new(false) };
        Self { inner: Arc::new(inner) }
    }

    /// The id the event with this index has on this stream.
    pub fn id_of(&self, index: u64) -> EventId {
        EventId { epoch: self.inner.epoch, index }
    }

    /// Sends an event to every current subscriber.
    pub fn publish(&self, event: &NamesEvent) {
        let json = serde_json::to_string(event).expect("a NamesEvent always encodes to JSON");
        let item = StreamItem::Data { id: self.id_of(event.index), json: json.into() };
        // No subscribers is not an error: the event simply has no one to go to.
        let _ = self.inner.sender.send(item);
    }

    /// Ends the stream: subscribers get `End`, later requests see [`Hub::has_ended`].
    pub fn end(&self, reason: String) {
        self.inner.ended.store(true, Ordering::SeqCst);
        let _ = self.inner.sender.send(StreamItem::End { reason: reason.into() });
    }

    /// Whether the stream is over. Check it after [`Hub::subscribe`], so no `End` slips between.
    pub fn has_ended(&self) -> bool {
        self.inner.ended.load(Ordering::SeqCst)
    }

    /// A receiver of every item published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<StreamItem> {
        self.inner.sender.subscribe()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

fn unix_millis_now() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    since_epoch.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(index: u64) -> NamesEvent {
        NamesEvent { list: vec![], info: "2026-11-24T10:00:00.000Z".into(), index }
    }

    #[tokio::test]
    async fn subscribers_get_the_same_encoded_event() {
        let hub = Hub::new();
        let (mut a, mut b) = (hub.subscribe(), hub.subscribe());
        hub.publish(&event(1));
        let (
            StreamItem::Data { id: id_a, json: json_a },
            StreamItem::Data { id: id_b, json: json_b },
        ) = (a.recv().await.unwrap(), b.recv().await.unwrap())
        else {
            panic!("expected data events");
        };
        assert_eq!(id_a, hub.id_of(1));
        assert_eq!(id_a, id_b);
        assert!(Arc::ptr_eq(&json_a, &json_b), "encoded once, shared");
        assert_eq!(&*json_a, r#"{"list":[],"info":"2026-11-24T10:00:00.000Z","index":1}"#);
    }

    #[tokio::test]
    async fn end_is_seen_by_subscribers_and_later_callers() {
        let hub = Hub::new();
        let mut before = hub.subscribe();
        assert!(!hub.has_ended());
        hub.end("done".into());
        assert!(
            matches!(before.recv().await.unwrap(), StreamItem::End { reason } if &*reason == "done")
        );
        assert!(hub.has_ended());
    }
}
