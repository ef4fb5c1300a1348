//! A lean server on loopback with short limits, for the tests that attack it: `GET /sse`
//! (a stream of `?limit=N` events, 3 by default) fed by a hub that publishes every
//! [`EVERY`], `GET /text` ("hello"), and `/tunnel`, which answers any method, `CONNECT`
//! included, with `200 tunnel`. Every wait is bounded.
#![allow(dead_code, reason = "each test binary uses a part of it")]

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{any, get};
use sse_hub::{Hub, StreamOptions};
use sse_lean::{Lean, Options, Reply, StreamMetrics};
use std::collections::HashMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Between two published events.
pub const EVERY: Duration = Duration::from_millis(50);
/// Bounds every wait of these tests; never a speed assertion.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub metrics: StreamMetrics,
    stop: CancellationToken,
    served: JoinHandle<std::io::Result<()>>,
}

/// Starts a server with `options` on `127.0.0.1:0`.
pub async fn start(options: Options) -> Server {
    let size = |n| NonZeroUsize::new(n).unwrap();
    let hub: Hub<String> = Hub::new(size(64), size(64));
    hub.publish(|index| format!("event {index}"));
    let stop = CancellationToken::new();
    let publisher = (hub.clone(), stop.clone());
    tokio::spawn(async move {
        let (hub, stop) = publisher;
        while tokio::time::timeout(EVERY, stop.cancelled()).await.is_err() {
            hub.publish(|index| format!("event {index}"));
        }
    });
    let router = Router::new()
        .route("/sse", get(sse))
        .route("/text", get(|| async { "hello" }))
        .route("/tunnel", any(|| async { "tunnel" }))
        .with_state((hub.clone(), stop.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lean = Lean::new(options);
    let metrics = lean.metrics().clone();
    let served = tokio::spawn(
        lean.serve(listener, router)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .into_future(),
    );
    Server { addr, metrics, stop, served }
}

impl Server {
    /// Stops it, and checks it returned in time, without a panic.
    pub async fn stop(self) {
        self.stop.cancel();
        let served = tokio::time::timeout(PATIENCE, self.served).await;
        served.expect("the server stops").expect("no panic").expect("serve returns Ok");
    }
}

async fn sse(
    State((hub, stop)): State<(Hub<String>, CancellationToken)>,
    Query(query): Query<HashMap<String, String>>,
    reply: Reply,
) -> Response {
    let limit = query.get("limit").and_then(|limit| limit.parse().ok());
    let options = StreamOptions {
        retry: Duration::from_secs(1),
        heartbeat: Duration::from_secs(3600),
        limit: Some(limit.unwrap_or(NonZeroU64::new(3).unwrap())),
        stop: stop.child_token(),
    };
    reply.stream(hub.subscribe(None).expect("open").into_delivery(options), ())
}

/// Reads until the server closes the connection (or `patience` passes: `None`): what it
/// sent, and when it closed.
pub async fn read_until_closed(
    tcp: &mut TcpStream,
    patience: Duration,
) -> Option<(Vec<u8>, Instant)> {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(patience, async {
        let mut buf = [0; 64 * 1024];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.ok()?;
    Some((bytes, Instant::now()))
}

/// Counts every panic in this process from the first call on, tasks' included (tokio
/// catches those, but the hook still sees them).
pub fn panics() -> &'static AtomicUsize {
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    &PANICS
}

/// The number of events (with an `id:`; not `close`) in `bytes`, and whether the stream
/// ended with `close` and its last chunk.
pub fn events_and_end(bytes: &[u8]) -> (usize, bool) {
    let text = String::from_utf8_lossy(bytes);
    let after_close = text.split_once("event: close\n").map(|(_, after)| after);
    let ended = after_close.is_some_and(|after| after.contains("\r\n0\r\n\r\n"));
    (text.matches("\nid: ").count(), ended)
}
