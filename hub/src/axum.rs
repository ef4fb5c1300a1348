//! Serving a subscription with axum.

use crate::frame;
use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use std::convert::Infallible;
use std::time::Duration;

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

/// "Come back after `retry`", as an EventSource obeys it: a `200` event stream that holds
/// only `retry:` and ends. By the SSE spec the browser then reconnects after that delay,
/// keeping its `Last-Event-ID`, whereas any error status (`503` included) stops it for good.
/// For a server that cannot take the subscriber now. The connection closes after it: kept
/// idle until the client comes back, it would hold a file the server is short of.
pub fn retry_response(retry: Duration) -> Response {
    let [content_type, cache_control, _keep_alive, unbuffered] = SSE_HEADERS;
    let close = (CONNECTION, HeaderValue::from_static("close"));
    let mut body = frame::retry(retry).to_vec();
    body.push(b'\n');
    ([content_type, cache_control, close, unbuffered], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_retry_response_is_an_event_stream_of_only_retry_that_closes() {
        let response = retry_response(Duration::from_millis(12_345));
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "text/event-stream");
        assert_eq!(headers[CONNECTION], "close");
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(body, "retry: 12345\n\n");
    }
}
