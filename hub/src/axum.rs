//! Serving a subscription with axum.

use crate::frame;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_core::Stream;
use std::convert::Infallible;
use std::time::Duration;

/// Where a client resumes: an extractor for the `Last-Event-ID` header an EventSource sends
/// when it reconnects by itself, or else the `lastEventId` query parameter, which a page
/// that opens a new EventSource (and so cannot set the header) puts in the URL. The header
/// wins: it is the newer of the two. Never rejects: no id, or one that is not text, is
/// `None`; [`Hub::subscribe`](crate::Hub::subscribe) decides what a malformed one means.
///
/// ```
/// use axum::{extract::State, response::Response};
/// use sse_hub::{Hub, LastEventId, StreamOptions, sse_response};
///
/// async fn events(State(hub): State<Hub<String>>, LastEventId(id): LastEventId) -> Response {
///     let subscription = hub.subscribe(id.as_deref()).expect("the stream is open");
///     sse_response(subscription.into_stream(StreamOptions::default()))
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastEventId(pub Option<String>);

/// The header an EventSource sends when it reconnects by itself, which [`LastEventId`] reads.
pub const LAST_EVENT_ID_HEADER: HeaderName = HeaderName::from_static("last-event-id");

/// The query parameter [`LastEventId`] reads when the header is absent.
pub const LAST_EVENT_ID_PARAM: &str = "lastEventId";

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self::from_parts(parts))
    }
}

impl LastEventId {
    /// The id in `parts`: the header, or else the query parameter.
    pub fn from_parts(parts: &Parts) -> Self {
        let header = parts.headers.get(LAST_EVENT_ID_HEADER).and_then(|value| value.to_str().ok());
        let param = || {
            let query = parts.uri.query()?;
            let mut pairs = form_urlencoded::parse(query.as_bytes());
            pairs.find(|(name, _)| name == LAST_EVENT_ID_PARAM).map(|(_, value)| value.into_owned())
        };
        Self(header.map(str::to_owned).or_else(param))
    }
}

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

    fn last_event_id(uri: &str, header: Option<&str>) -> Option<String> {
        let mut request = axum::http::Request::builder().uri(uri);
        if let Some(header) = header {
            request = request.header("Last-Event-ID", header);
        }
        let (parts, ()) = request.body(()).unwrap().into_parts();
        LastEventId::from_parts(&parts).0
    }

    #[test]
    fn the_header_wins_over_the_query_and_either_may_be_absent() {
        assert_eq!(last_event_id("/sse", None), None);
        assert_eq!(last_event_id("/sse?lastEventId=7-3", None).as_deref(), Some("7-3"));
        assert_eq!(last_event_id("/sse?a=1&lastEventId=7%2D4", None).as_deref(), Some("7-4"));
        assert_eq!(last_event_id("/sse?lastEventId=7-3", Some("7-9")).as_deref(), Some("7-9"));
        assert_eq!(last_event_id("/sse?lasteventid=7-3", None), None, "the name is exact");
    }

    proptest::proptest! {
        #[test]
        fn any_id_in_the_query_comes_back_as_it_was_sent(id in "\\PC{0,20}", limit: u64) {
            let escaped: String = id.bytes().map(|byte| format!("%{byte:02X}")).collect();
            let uri = format!("/sse?limit={limit}&lastEventId={escaped}");
            proptest::prop_assert_eq!(last_event_id(&uri, None), Some(id));
        }
    }

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
