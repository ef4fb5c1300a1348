//! Serving a subscription with axum.

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use std::convert::Infallible;

/// The headers of an SSE response. `X-Accel-Buffering: no` stops nginx-style proxies from
/// buffering the stream; `no-cache` keeps caches out of it.
pub const SSE_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
    (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    (CONNECTION, HeaderValue::from_static("keep-alive")),
    (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
];

/// A `200` response streaming `body` (from [`Subscription::into_stream`](crate::Subscription::into_stream)).
pub fn sse_response(
    body: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    (SSE_HEADERS, Body::from_stream(body)).into_response()
}
