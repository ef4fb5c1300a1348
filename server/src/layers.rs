//! The HTTP layers around every route: gzip for pages and files, CORS for allowed origins.

use axum::Router;
use axum::http::{HeaderValue, Method, Uri};
use std::str::FromStr;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// An origin (`scheme://host[:port]`) allowed to read this server from its pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedOrigin(HeaderValue);

impl AllowedOrigin {
    /// The origin as browsers send it in `Origin`.
    pub fn as_str(&self) -> &str {
        // Built from a `&str` in `from_str`, so always visible ASCII.
        self.0.to_str().unwrap_or_default()
    }
}

impl FromStr for AllowedOrigin {
    type Err = String;

    /// Accepts exactly what a browser sends as `Origin`, lower-cased: an origin with a path
    /// or a trailing slash would never match one, so it is refused rather than ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let origin = text.to_ascii_lowercase();
        if !is_origin(&origin) {
            return Err(format!(
                "{text:?} is not an origin: write scheme://host[:port] with http or https and \
                 no path, like https://example.com"
            ));
        }
        HeaderValue::from_str(&origin).map(Self).map_err(|err| format!("{text:?}: {err}"))
    }
}

fn is_origin(text: &str) -> bool {
    let Ok(uri) = text.parse::<Uri>() else { return false };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !authority.as_str().contains('@')
        && text == format!("{scheme}://{authority}")
}

/// Wraps `router` in gzip compression and, when `origins` is not empty, CORS for them.
pub fn around(router: Router, origins: &[AllowedOrigin]) -> Router {
    // The default predicate skips `text/event-stream` (and tiny bodies and images): a
    // compressor would hold events back until its buffer fills.
    let router = router.layer(CompressionLayer::new());
    match cors(origins) {
        Some(cors) => router.layer(cors),
        // No layer at all: without CORS headers, browsers keep other origins out.
        None => router,
    }
}

/// CORS for `GET` from `origins` only; `None` when there are none.
fn cors(origins: &[AllowedOrigin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins = origins.iter().map(|AllowedOrigin(origin)| origin.clone());
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET])
            // A reconnecting EventSource sends `Last-Event-ID`, which is not CORS-safelisted.
            .allow_headers([sse_hub::LAST_EVENT_ID_HEADER]),
    )
}
