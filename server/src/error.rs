//! The server's error type; each variant knows its HTTP response.

use crate::refusal::Refused;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};

/// What a request can get wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query string could not be read; the text says which parameter and why.
    #[error("{0}")]
    BadQuery(String),
    /// `--max-connections` streams are open; the client should come back later. An
    /// EventSource (`event_stream`: it accepts `text/event-stream`) is told so in the only
    /// way it obeys, a stream of only `retry:`; any error status would stop it for good.
    #[error("too many open streams; retry in {} s", .refused.retry_after_secs())]
    TooManyStreams { refused: Refused, event_stream: bool },
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::TooManyStreams { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Self::TooManyStreams { refused, event_stream: true } = self {
            return sse_hub::retry_response(refused.wait);
        }
        let mut response = (self.status(), self.to_string()).into_response();
        if let Self::TooManyStreams { refused, .. } = self {
            response.headers_mut().insert(RETRY_AFTER, refused.retry_after_secs().into());
        }
        response
    }
}
