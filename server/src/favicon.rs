//! The page's icon, `/favicon.svg`, which every page links from its head; compiled into the
//! binary, so it is there whatever the site folder holds.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect};

/// Three bars on the "open" green of the page: the chart, small.
const SVG: &str = include_str!("../assets/favicon.svg");

/// A day: browsers ask for the icon with every page load otherwise.
const CACHE_FOR_A_DAY: &str = "public, max-age=86400";

/// `GET /favicon.svg`.
pub async fn svg() -> impl IntoResponse {
    ([(CONTENT_TYPE, "image/svg+xml"), (CACHE_CONTROL, CACHE_FOR_A_DAY)], SVG)
}

/// `GET /favicon.ico`, which browsers ask for where no page links an icon (a stream or
/// `/healthz` opened in a tab): the SVG, for good.
pub async fn ico() -> Redirect {
    Redirect::permanent("/favicon.svg")
}
