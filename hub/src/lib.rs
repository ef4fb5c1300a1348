#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "runtime")]
mod data;
mod event_name;
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
    LAST_EVENT_ID_HEADER, LAST_EVENT_ID_PARAM, LastEventId, SSE_HEADERS, retry_response,
    sse_response,
};
pub use event_name::{EventName, InvalidEventName};
#[cfg(feature = "runtime")]
pub use hub::{Doorbell, Hub, News, Start, Subscription};
#[cfg(feature = "runtime")]
pub use metrics::HubMetrics;
pub use protocol::{CLOSE_EVENT, EventId, GAP_EVENT, InvalidEventId, PING_EVENT};
#[cfg(feature = "redis")]
pub use redis_log::{RedisHub, RedisMetrics, RedisOptions};
#[cfg(feature = "runtime")]
pub use stream::{Delivery, Frames, StreamOptions, TryNext};
