//! `GET /sse`: the shared stream as `text/event-stream`, in the classic example's format:
//! `id: <epoch>-<index>`, `retry: <ms>`, `data: <JSON>` per event, and `event: close` at the end.

use crate::AppState;
use crate::error::Error;
use crate::hub::StreamItem;
use app::event::CLOSE_EVENT;
use async_stream::stream;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONNECTION;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::num::NonZeroU64;
use std::time::Duration;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio_util::sync::CancellationToken;

/// Headers added to axum's `Content-Type: text/event-stream` and `Cache-Control: no-cache`.
/// `X-Accel-Buffering: no` stops nginx-style proxies from buffering the stream.
const STREAM_HEADERS: [(HeaderName, HeaderValue); 2] = [
    (CONNECTION, HeaderValue::from_static("keep-alive")),
    (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
];

/// The query string `GET /sse` accepts.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Close this connection after that many data events.
    limit: Option<Limit>,
}

/// How many data events one connection gets before `close`: at least one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Limit(NonZeroU64);

impl TryFrom<String> for Limit {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
            .map(Self)
            .map_err(|_| format!("must be a whole number from 1 to {}, not {text:?}", u64::MAX))
    }
}

/// Answers `GET /sse`: `204 No Content` once the stream is over (which stops a browser's
/// EventSource for good), the live stream otherwise.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|rejection| Error::BadQuery(rejection.body_text()))?;
    let subscription = state.hub.subscribe();
    if state.hub.has_ended() || is_limited_reconnect(query.limit, &headers) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let events = events(subscription, query.limit, state.retry, state.stop.clone());
    Ok((STREAM_HEADERS, Sse::new(events).keep_alive(KeepAlive::default())).into_response())
}

/// A limited stream is one-shot: a browser that ignores `close` reconnects with the
/// `Last-Event-ID` it saw, and must be told the stream is over rather than get another round.
fn is_limited_reconnect(limit: Option<Limit>, headers: &HeaderMap) -> bool {
    limit.is_some() && headers.contains_key("last-event-id")
}

/// One connection's events: every data event from now on, `close` after `limit` of them or
/// at the end of the stream. Ends without `close` on shutdown, so browsers reconnect to the
/// next instance, and when this subscriber has fallen too far behind, so its browser
/// reconnects instead of holding an unbounded backlog.
fn events(
    mut subscription: Receiver<StreamItem>,
    limit: Option<Limit>,
    retry: Duration,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream! {
        let mut delivered = 0;
        loop {
            let item = tokio::select! {
                _ = stop.cancelled() => break,
                item = subscription.recv() => item,
            };
            match item {
                Ok(StreamItem::Data { id, json }) => {
                    yield Ok(Event::default().id(id.to_string()).retry(retry).data(&*json));
                    delivered += 1;
                    if limit.is_some_and(|Limit(limit)| delivered == limit.get()) {
                        yield Ok(close_event(&format!("this connection's limit of {delivered} events was reached")));
                        break;
                    }
                }
                Ok(StreamItem::End { reason }) => {
                    yield Ok(close_event(&reason));
                    break;
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "subscriber fell behind; ending its stream so it reconnects");
                    break;
                }
                Err(RecvError::Closed) => break,
            }
        }
    }
}

/// The custom event on which the page (and the example's snippet) calls `close()`.
fn close_event(reason: &str) -> Event {
    Event::default().event(CLOSE_EVENT).data(reason)
}
