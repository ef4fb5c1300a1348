//! The two servers under comparison: the same router served by `sse_lean::Lean` (L) and by
//! plain `axum::serve` (H), each with its own hub holding the same history, on loopback.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::CONNECTION;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use sse_hub::{Hub, StreamOptions};
use sse_lean::{Lean, Options, Reply};
use std::collections::HashMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Events published before any client comes: a stream replays those after the first, so
/// both servers send the same frames and a `?limit` of up to [`REPLAYED`] ends at once.
const PUBLISHED: u64 = 4;
/// How many events a stream replays: every one after the first.
pub const REPLAYED: u64 = PUBLISHED - 1;
/// A fixed epoch, so the two hubs' ids are equal.
const EPOCH: u64 = 1;
/// Where every stream resumes: after the first event.
const RESUME_AFTER: &str = "1-1";
/// Events a stream sends unless `?limit=N` says otherwise: all replayed, so it ends.
const DEFAULT_LIMIT: NonZeroU64 = NonZeroU64::new(2).unwrap();
/// Long enough never to come during a case: a ping would make the bodies depend on timing.
const HEARTBEAT: Duration = Duration::from_secs(3600);
/// How long the servers get to stop once asked.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// One server on loopback: where to connect, and its hub (to publish during a case).
pub struct Server {
    pub addr: SocketAddr,
    pub hub: Hub<String>,
}

/// L and H, running on a runtime of their own so the blocking clients never share its
/// threads. Dropped without [`Servers::stop`] (a failed test), they are torn down anyway.
pub struct Servers {
    pub lean: Server,
    pub hyper: Server,
    runtime: Option<Runtime>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Servers {
    /// Starts both on `127.0.0.1:0`.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the servers");
        let shutdown = CancellationToken::new();
        let (lean, hyper, tasks) = runtime.block_on(async {
            let (lean, lean_task) = start_lean(shutdown.clone()).await;
            let (hyper, hyper_task) = start_hyper(shutdown.clone()).await;
            (lean, hyper, vec![lean_task, hyper_task])
        });
        Self { lean, hyper, runtime: Some(runtime), shutdown, tasks }
    }

    /// Stops both and checks that each returned cleanly in time: with every client gone and
    /// every stream stopped, a graceful shutdown has nothing to wait for.
    pub fn stop(mut self) {
        self.shutdown.cancel();
        let runtime = self.runtime.take().expect("stopped once");
        let tasks = std::mem::take(&mut self.tasks);
        runtime.block_on(async {
            for task in tasks {
                let stopped = tokio::time::timeout(STOP_WITHIN, task).await;
                let served = stopped.expect("a server stops within 10 s").expect("no panic");
                served.expect("a server returns Ok");
            }
        });
        runtime.shutdown_timeout(STOP_WITHIN);
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(STOP_WITHIN);
        }
    }
}

async fn start_lean(shutdown: CancellationToken) -> (Server, JoinHandle<std::io::Result<()>>) {
    let (listener, server) = bind().await;
    let app = router(server.hub.clone(), shutdown.clone());
    // The defaults (30 s for a head, 60 s idle) outlast every case, as hyper has no timer.
    let lean = Lean::new(Options::default());
    let serve = lean.serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
    (server, tokio::spawn(serve.into_future()))
}

async fn start_hyper(shutdown: CancellationToken) -> (Server, JoinHandle<std::io::Result<()>>) {
    let (listener, server) = bind().await;
    let app = router(server.hub.clone(), shutdown.clone());
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let serve = axum::serve(listener, service).with_graceful_shutdown(shutdown.cancelled_owned());
    (server, tokio::spawn(async move { serve.await }))
}

async fn bind() -> (TcpListener, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    (listener, Server { addr, hub: hub_with_history() })
}

fn hub_with_history() -> Hub<String> {
    let size = NonZeroUsize::new(64).unwrap();
    let hub = Hub::with_epoch(EPOCH, size, size);
    for _ in 0..PUBLISHED {
        hub.publish(|index| format!("event {index}"));
    }
    hub
}

#[derive(Clone)]
struct AppState {
    hub: Hub<String>,
    /// Cancelled at shutdown: streams waiting for live events end.
    stop: CancellationToken,
}

/// The router both servers serve.
fn router(hub: Hub<String>, stop: CancellationToken) -> Router {
    Router::new()
        .route("/sse", get(sse))
        .route("/text", get(|| async { "hello" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route("/close", get(|| async { ([(CONNECTION, "close")], "bye") }))
        .route("/tunnel", any(|| async { "tunnel" }))
        .with_state(AppState { hub, stop })
}

async fn sse(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    reply: Reply,
) -> Response {
    let limit = match query.get("limit").map(|limit| limit.parse::<NonZeroU64>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) => limit,
        Some(Err(_)) => {
            return (StatusCode::BAD_REQUEST, "limit: a whole number above 0").into_response();
        }
    };
    let Some(subscription) = state.hub.subscribe(Some(RESUME_AFTER)) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let options = StreamOptions {
        retry: Duration::from_millis(1500),
        heartbeat: HEARTBEAT,
        limit: Some(limit),
        stop: state.stop.child_token(),
    };
    reply.stream(subscription.into_delivery(options), ())
}
