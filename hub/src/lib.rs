//! # sse-hub
//!
//! A lossless Server-Sent Events hub: one publisher, any number of subscribers, and resume
//! by `Last-Event-ID` without a gap or a duplicate while the bounded history covers it.
//!
//! ```text
//! Hub::publish ──► history (last N encoded events) ──► Hub::subscribe (replay)
//!              └─► broadcast (live)                 ──► Subscription::into_stream
//! ```
//!
//! - Each event is encoded to its SSE bytes once and shared ([`bytes::Bytes`]), never
//!   serialized again per subscriber. Ids are `<epoch>-<index>` ([`EventId`]).
//! - A first connection gets the latest event at once, then live events. A resume gets every
//!   event after its id; an id older than the history, or of another epoch (the server
//!   restarted), gets a `gap` event (data: the first id available) and the latest event.
//!   A malformed id, or one from the future, counts as none.
//! - Heartbeats are a named `ping` event; a subscriber that falls too far behind has its
//!   stream ended, and its browser resumes from history.
//! - A subscriber that cannot be served now gets [`retry_response`]: a stream of only
//!   `retry:`, after which an EventSource comes back by itself (an error status stops it).
//! - With the `redis` feature, [`RedisHub`] shares one stream among several processes
//!   through a Redis Stream: one elected publisher, every process serving subscribers and
//!   resumes (see its module).
//! - [`HubMetrics`] counts subscribers, events and bytes delivered, replays, gaps and slow
//!   drops as prometheus-client metrics, registered in a registry of the caller's choosing.
//!
//! ```no_run
//! use sse_hub::{Hub, StreamOptions, sse_response};
//! use std::num::NonZeroUsize;
//! use std::time::Duration;
//!
//! # fn demo(last_event_id: Option<&str>) -> axum::response::Response {
//! let hub: Hub<String> = Hub::new(NonZeroUsize::new(1024).unwrap(), NonZeroUsize::new(64).unwrap());
//! hub.publish(|index| format!("event number {index}"));
//! let options = StreamOptions {
//!     retry: Duration::from_secs(10),
//!     heartbeat: Duration::from_secs(15),
//!     limit: None,
//!     stop: Default::default(),
//! };
//! match hub.subscribe(last_event_id) {
//!     Some(subscription) => sse_response(subscription.into_stream(options)),
//!     None => axum::http::StatusCode::NO_CONTENT.into_response(), // the stream has ended
//! }
//! # }
//! # use axum::response::IntoResponse;
//! ```

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "runtime")]
mod frame;
#[cfg(feature = "runtime")]
mod hub;
#[cfg(feature = "runtime")]
mod metrics;
mod protocol;
#[cfg(feature = "redis")]
mod redis_log;
#[cfg(feature = "runtime")]
mod stream;

#[cfg(feature = "axum")]
pub use crate::axum::{
    LAST_EVENT_ID_PARAM, LastEventId, SSE_HEADERS, retry_response, sse_response,
};
#[cfg(feature = "runtime")]
pub use hub::{Doorbell, Hub, Start, Subscription};
#[cfg(feature = "runtime")]
pub use metrics::HubMetrics;
pub use protocol::{CLOSE_EVENT, EventId, GAP_EVENT, InvalidEventId, PING_EVENT};
#[cfg(feature = "redis")]
pub use redis_log::{RedisHub, RedisMetrics, RedisOptions};
#[cfg(feature = "runtime")]
pub use stream::{Delivery, Frames, StreamOptions, TryNext};
