//! # sse-lean
//!
//! Server-Sent Events for axum at about half a KiB per subscriber. [`Lean::serve`] runs an
//! axum [`Router`] on a [`TcpListener`] with one HTTP/1.1 connection layer: a `GET` whose
//! handler answers with [`Reply::stream`] is written by a few per-thread writers straight to
//! its socket (one `writev` per event, no task, timer or buffer per stream), and every other
//! request is served by hyper, one request at a time, on the same connection.
#![deny(missing_docs)]

mod metrics;
mod reply;

pub use metrics::{StreamMetrics, Writer};
pub use reply::Reply;

use axum::Router;
use sse_hub::Doorbell;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// The connection layer's limits.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The most a client may take to send a whole request head, from its first byte (or
    /// from the connection's start): one byte a second does not keep a connection.
    pub head_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// A connection whose write made no progress for this long is closed: its peer stopped
    /// reading.
    pub stall_timeout: Duration,
}

impl Default for Options {
    /// 30 s for a head, 60 s idle, 30 s stalled.
    fn default() -> Self {
        Self {
            head_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// The lean server: its options and its metrics.
#[derive(Clone, Debug, Default)]
pub struct Lean {
    options: Options,
    metrics: StreamMetrics,
}

impl Lean {
    /// A server with these limits.
    pub fn new(options: Options) -> Self {
        Self { options, metrics: StreamMetrics::default() }
    }

    /// Its metrics, to register with the application's own.
    pub fn metrics(&self) -> &StreamMetrics {
        &self.metrics
    }

    /// Serves `router` on `listener` until `shutdown` completes; the writers wake when
    /// `doorbell` rings (the hub published). Returns once every connection is done: streams
    /// end when their deliveries do (cancel their `StreamOptions::stop` at shutdown).
    pub async fn serve(
        self,
        listener: TcpListener,
        router: Router,
        doorbell: Doorbell,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Placeholder until the connection layer lands: hyper serves everything.
        let _ = (doorbell, self.options);
        let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await
    }
}
