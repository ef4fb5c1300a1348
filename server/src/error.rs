//! The server's error type; each variant knows its HTTP status.

use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};

/// What a request can get wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query string could not be read; the text says which parameter and why.
    #[error("{0}")]
    BadQuery(String),
    /// `--max-connections` streams are open; the client should come back later.
    #[error("too many open streams; retry in {retry_after_secs} s")]
    TooManyStreams { retry_after_secs: u64 },
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
        let mut response = (self.status(), self.to_string()).into_response();
        if let Self::TooManyStreams { retry_after_secs } = self {
            response.headers_mut().insert(RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}
