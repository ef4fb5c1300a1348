//! `GET /sse`: the shared stream as `text/event-stream`, in the classic example's format
//! (`retry:`, `id: <epoch>-<index>`, `data: <JSON>` per event, `event: close` at the end),
//! resumable with `Last-Event-ID` or `?lastEventId=`.

use crate::AppState;
use crate::connections::OpenStream;
use crate::error::Error;
use crate::refusal;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Deserialize;
use sse_hub::{LAST_EVENT_ID_HEADER, LastEventId, StreamOptions};
use sse_lean::Reply;
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::time::Duration;
use tracing_futures::Instrument;

/// The query string `GET /sse` accepts, besides `lastEventId` (read with the header, as
/// [`LastEventId`]).
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
/// EventSource for good); while `--max-connections` streams are open, "come back later"
/// (only `retry:` for an EventSource, `503` for others); the stream from where the client
/// left off otherwise.
pub async fn stream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    reply: Reply,
    headers: HeaderMap,
    resume_from: LastEventId,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let span = tracing::info_span!("sse", %peer);
    // The hub's logs about this subscription (a gap) and while streaming (a slow drop) name
    // the peer.
    open(state, peer, reply, headers, resume_from, query).instrument(span).await
}

async fn open(
    state: AppState,
    peer: SocketAddr,
    reply: Reply,
    headers: HeaderMap,
    LastEventId(resume_from): LastEventId,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|rejection| Error::BadQuery(rejection.body_text()))?;
    if query.limit.is_some() && headers.contains_key(LAST_EVENT_ID_HEADER) {
        // A limited stream is one-shot: a browser that ignores `close` reconnects with the
        // id it saw, and must be told the stream is over rather than get another round.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // Taken before subscribing, so that a refused request leaves no trace in the hub.
    let slot = state.slots.take().map_err(|refused| Error::TooManyStreams {
        refused,
        event_stream: refusal::accepts_event_stream(&headers),
    })?;
    let resume_from = resume_from.as_deref();
    let Some(subscription) = state.source.subscribe(resume_from).await else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    tracing::info!(resume_from, start = ?subscription.start(), "subscriber connected");
    // No stop to pass: the server ends every stream at shutdown by itself.
    let options = StreamOptions {
        limit: query.limit.map(|Limit(limit)| limit),
        ..StreamOptions::default().retry(jittered(state.retry)).heartbeat(state.pace.heartbeat)
    };
    let open = OpenStream::new(peer, slot);
    Ok(reply.stream(subscription.into_delivery(options), open))
}

/// How far each connection's `retry:` may be from `--retry-ms`, as a fraction of it.
const RETRY_JITTER: f64 = 0.2;

/// `retry` ± up to [`RETRY_JITTER`], drawn per connection, so that a restart does not bring
/// every browser back in the same millisecond.
fn jittered(retry: Duration) -> Duration {
    retry.mul_f64(rand::rng().random_range(1.0 - RETRY_JITTER..=1.0 + RETRY_JITTER))
}

/// The longest `retry:` a connection can be sent: the page counts down to it.
pub fn longest_retry(retry: Duration) -> Duration {
    retry.mul_f64(1.0 + RETRY_JITTER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn query(text: &str) -> Result<StreamQuery, String> {
        serde_urlencoded::from_str(text).map_err(|err| err.to_string())
    }

    proptest! {
        #[test]
        fn any_query_string_parses_or_says_why(text in "\\PC{0,40}") {
            // Never a panic; a limit, when accepted, is the whole positive number given.
            if let Ok(StreamQuery { limit: Some(Limit(limit)), .. }) = query(&text) {
                prop_assert!(limit.get() >= 1);
            }
        }

        #[test]
        fn limits_are_the_positive_u64s(n: u64, id in "\\PC{0,20}") {
            let escaped: String = id.bytes().map(|byte| format!("%{byte:02X}")).collect();
            let parsed = query(&format!("limit={n}&lastEventId={escaped}"));
            if n == 0 {
                prop_assert!(parsed.unwrap_err().contains("whole number from 1"));
            } else {
                prop_assert_eq!(parsed.unwrap().limit.map(|Limit(l)| l.get()), Some(n));
            }
        }
    }

    #[test]
    fn jitter_stays_within_a_fifth_and_varies() {
        let retry = Duration::from_secs(10);
        let draws: Vec<Duration> = (0..200).map(|_| jittered(retry)).collect();
        assert!(draws.iter().all(|d| (Duration::from_secs(8)..=longest_retry(retry)).contains(d)));
        assert!(draws.iter().any(|d| *d != draws[0]), "drawn per connection");
    }
}
