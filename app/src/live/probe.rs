//! Asks the stream's URL what it answers now, once, for the connection's state machine: an
//! `EventSource` that gave up does not say why.
//!
//! One `fetch` of the stream without `Last-Event-ID` (the server sends only the latest
//! event), aborted as soon as the status and headers are in: cheap for a server that is up,
//! one refused request for one that is not.

use crate::model::probe::{Failure, Probe};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, RequestCache, RequestInit, Response};

/// Fetches `url` and hands what it answered to `on_answer`.
pub fn probe(url: &str, on_answer: impl FnOnce(Probe) + 'static) {
    let url = url.to_string();
    leptos::task::spawn_local(async move { on_answer(fetch_answer(&url).await) });
}

async fn fetch_answer(url: &str) -> Probe {
    let unreachable = Probe::Failed(Failure::Unreachable);
    let (Some(window), Ok(abort)) = (web_sys::window(), AbortController::new()) else {
        return unreachable;
    };
    let init = RequestInit::new();
    init.set_cache(RequestCache::NoStore);
    // Asked as an EventSource asks, so the server answers the probe as it would answer it.
    if let Ok(headers) = Headers::new() {
        let _ = headers.set("accept", "text/event-stream");
        init.set_headers(&headers);
    }
    init.set_signal(Some(&abort.signal()));
    let answer = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await;
    let Ok(response) = answer.and_then(|response| response.dyn_into::<Response>()) else {
        return unreachable; // No answer: a network error, the server down, CORS.
    };
    let content_type = response.headers().get("content-type").ok().flatten();
    // Only the status was wanted: stop the stream's body.
    abort.abort();
    Probe::of_response(response.status(), content_type.as_deref())
}
