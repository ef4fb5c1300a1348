//! The server's error type; each variant knows its HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What a request can get wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The query string could not be read; the text says which parameter and why.
    #[error("{0}")]
    BadQuery(String),
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadQuery(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}
