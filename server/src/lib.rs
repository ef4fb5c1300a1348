//! The livenames server: renders the Leptos page and streams names over SSE.
//!
//! ```text
//! names::publish ──► hub::Hub ──► sse::stream ──► the browser's EventSource
//! ```
//! With `--redis-url`, the generator publishes through Redis (`sse_hub::RedisHub`) and the
//! hub is this instance's copy of the shared stream.
//! - [`config`]: flags and environment, parsed once at start-up.
//! - [`names`]: the generator of the 10 names per event.
//! - `sse_hub` (the `hub/` crate): the shared stream, its history and resume.
//! - [`source`]: the stream a handler reads, this process's hub or the Redis-shared one.
//! - [`sse`]: the `GET /sse` handler; [`connections`]: how many streams may be open;
//!   [`refusal`]: what a request beyond them is told.
//! - `sse_lean` (the `lean/` crate): the connection layer every connection goes through;
//!   `/sse` streams are written by its per-thread writers, everything else by hyper.
//! - [`ops`]: `GET /healthz` and `GET /metrics`; [`layers`]: gzip and CORS around it all.
//! - [`site`]: the site folder must be of this build; [`favicon`]: the page's icon.
//! - [`listen`]: the listening socket, shared with other instances with `--reuse-port`.
//! - [`router`] builds every route; [`serve`] runs them until shutdown.

pub mod config;
pub mod connections;
pub mod error;
pub mod favicon;
pub mod layers;
pub mod listen;
pub mod names;
pub mod ops;
pub mod refusal;
pub mod site;
pub mod source;
pub mod sse;

use app::event::NamesEvent;
use app::event::{PageSeed, RenderedEvent};
use app::i18n::Lang;
use app::{App, shell};
use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use config::Config;
use connections::StreamSlots;
use leptos::config::LeptosOptions;
use leptos_axum::{LeptosRoutes, file_and_error_handler, generate_route_list};
use prometheus_client::registry::Registry;
use source::Source;
use sse_hub::Hub;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The name cargo-leptos gives the site's WASM, JS and CSS files (`[[workspace.metadata.leptos]]`).
const OUTPUT_NAME: &str = "livenames";

/// How long shutdown waits for the generator to stop (and release its lease in Redis).
const GENERATOR_STOP: Duration = Duration::from_secs(2);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    /// The stream: this process's hub, or the one shared through Redis (`--redis-url`).
    pub source: Source,
    /// Sent as `retry:` once per connection, jittered per connection.
    pub retry: Duration,
    /// How often the stream carries something, told to pages for dead-link detection.
    pub pace: Pace,
    /// The open streams' slots, at most `--max-connections`.
    pub slots: StreamSlots,
    /// This server's metrics, served at `/metrics`.
    pub metrics: Arc<Registry>,
}

/// The stream's pace: time between events and between heartbeats.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub interval: Duration,
    pub heartbeat: Duration,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Every route: `/sse`, `/healthz`, `/metrics`, the icon, the Leptos page, the site's files,
/// and a 404 page for the rest.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let (hub, pace, retry) = (state.source.hub().clone(), state.pace, state.retry);
    let seed = move || {
        // leptos_axum provides the request's parts before calling this.
        let headers =
            leptos::prelude::use_context::<axum::http::request::Parts>().map(|p| p.headers);
        let lang = page_language(headers.as_ref());
        leptos::prelude::provide_context(page_seed(&hub, pace, retry, lang));
    };
    Router::new()
        .route("/sse", get(sse::stream))
        .route("/healthz", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/favicon.svg", get(favicon::svg))
        .route("/favicon.ico", get(favicon::ico))
        .leptos_routes_with_context(&state, routes, seed, move || shell(options.clone()))
        .fallback(file_and_error_handler::<AppState, _>(shell))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes, then ends the open streams and returns
/// once every connection is done, or after `--shutdown-timeout-secs` at the latest.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    site::check(&config.site_root, OUTPUT_NAME)?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let (source, generator) = Source::start(&config, &stop).await?;
    let slots = StreamSlots::new(config.max_connections, config.retry);
    let lean = sse_lean::Lean::new(sse_lean::Options {
        head_timeout: config.head_timeout,
        idle_timeout: config.idle_timeout,
        stall_timeout: config.stall_timeout,
    });
    let metrics = Arc::new(ops::registry(&source, &slots, lean.metrics()));
    let state = AppState {
        leptos_options: leptos_options(&config, addr),
        source,
        retry: config.retry,
        pace: Pace { interval: config.interval, heartbeat: config.keepalive },
        slots,
        metrics,
    };
    let app = layers::around(router(state), &config.allow_origin);
    tracing::info!("listening on http://{addr}");
    let every_connection =
        lean.serve(listener, app).with_graceful_shutdown(stop_on(shutdown, stop.clone()));
    let served = bounded_shutdown(every_connection, stop, config.shutdown_timeout).await;
    // The generator ends at stop; with Redis it releases its lease, so another instance
    // takes over at once instead of after the lease expires.
    if tokio::time::timeout(GENERATOR_STOP, generator).await.is_err() {
        tracing::warn!("the generator did not stop within {GENERATOR_STOP:?}");
    }
    served
}

/// Waits for `shutdown`, then cancels `stop`, which ends the generator (and bounds the wait
/// for connections).
async fn stop_on(shutdown: impl Future<Output = ()>, stop: CancellationToken) {
    shutdown.await;
    tracing::info!("shutting down");
    stop.cancel();
}

/// Runs `server` to its end, but for no longer than `timeout` once `stop` is cancelled: a
/// client that holds its connection open must not keep the process from exiting.
async fn bounded_shutdown(
    server: impl IntoFuture<Output = std::io::Result<()>>,
    stop: CancellationToken,
    timeout: Duration,
) -> std::io::Result<()> {
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = &mut server => return result,
        () = stop.cancelled() => {}
    }
    match tokio::time::timeout(timeout, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(?timeout, "connections still open at the shutdown timeout; leaving");
            Ok(())
        }
    }
}

/// The language a request asked for, by the toggle's cookie or `Accept-Language`.
fn page_language(headers: Option<&axum::http::HeaderMap>) -> Lang {
    let header = |name| headers.and_then(|h| h.get(name)).and_then(|v| v.to_str().ok());
    Lang::negotiate(header(axum::http::header::COOKIE), header(axum::http::header::ACCEPT_LANGUAGE))
}

/// What the page is rendered with: the latest event, the stream's pace and the language.
fn page_seed(hub: &Hub<NamesEvent>, pace: Pace, retry: Duration, lang: Lang) -> PageSeed {
    let rendered = hub.latest().map(|(id, event)| RenderedEvent { id, event: (*event).clone() });
    PageSeed {
        rendered,
        interval_ms: pace.interval.as_millis() as u64,
        heartbeat_ms: pace.heartbeat.as_millis() as u64,
        retry_max_ms: sse::longest_retry(retry).as_millis() as u64,
        lang,
    }
}

fn leptos_options(config: &Config, addr: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().as_ref())
        .site_addr(addr)
        .build()
}
