//! What the hub counts, as prometheus-client metrics a server registers in its own registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// The hub's counters and gauge. Cheap to clone: every clone shares the same atomics, and
/// nothing is global, so several hubs in one process keep separate counts.
#[derive(Clone, Debug, Default)]
pub struct HubMetrics {
    /// Subscriptions alive now: made by `subscribe` and not yet dropped.
    pub subscribers: Gauge,
    /// Events published.
    pub published: Counter,
    /// Events handed to subscribers' connections, replayed ones included.
    pub delivered: Counter,
    /// Bytes handed to subscribers' connections: events, `retry:`, `ping`, `gap`, `close`.
    pub delivered_bytes: Counter,
    /// Streams ended because their subscriber fell more than the backlog behind.
    pub dropped_slow: Counter,
    /// Events replayed from history to subscribers that resumed.
    pub replayed: Counter,
    /// Resumes that could not be served from history and got a `gap` event.
    pub gaps: Counter,
    /// Holes in a shared log (events it lost before this process read them), announced to
    /// live subscribers with a `gap` event.
    pub holes: Counter,
}

impl HubMetrics {
    /// Registers every series in `registry`; give it a prefix (like `sse`) to group them.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("subscribers", "Open subscriber streams", self.subscribers.clone());
        registry.register("events_published", "Events published", self.published.clone());
        registry.register(
            "events_delivered",
            "Events sent to subscribers, replayed ones included",
            self.delivered.clone(),
        );
        registry.register_with_unit(
            "delivered",
            "Bytes sent to subscribers",
            Unit::Bytes,
            self.delivered_bytes.clone(),
        );
        registry.register(
            "subscribers_dropped_slow",
            "Subscriber streams ended for falling too far behind",
            self.dropped_slow.clone(),
        );
        registry.register(
            "events_replayed",
            "Events replayed from history on resume",
            self.replayed.clone(),
        );
        registry.register(
            "resume_gaps",
            "Resumes outside the history, answered with a gap event",
            self.gaps.clone(),
        );
        registry.register(
            "log_holes",
            "Events a shared log lost before they were read, announced with a gap event",
            self.holes.clone(),
        );
    }
}

/// Holds one place in the subscriber gauge for as long as it lives, however it ends.
#[derive(Debug)]
pub(crate) struct SubscriberCount(Gauge);

impl SubscriberCount {
    pub(crate) fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for SubscriberCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}
