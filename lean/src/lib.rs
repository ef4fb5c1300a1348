//! # sse-lean
//!
//! Server-Sent Events for axum at about half a KiB per subscriber. [`Lean::serve`] runs an
//! axum [`Router`] on a [`TcpListener`] with one HTTP/1.1 connection layer: a `GET` whose
//! handler answers with [`Reply::stream`] is written by a few per-thread writers straight to
//! its socket (one `writev` per event, no task, timer or buffer per stream), and every other
//! request is served by hyper, on the same connection, before or after the stream.
//!
//! ```text
//! accept ─► Connection: read a head (httparse, deadline) ─┬─ clean: the Router ─┬─ Reply::stream ─► writers ─┐
//!               ▲                                          │                     └─ other response ─► hyper, once
//!               │                                          └─ not clean ─► hyper for the rest of the connection
//!               └──────────── the stream is over (?limit, close): the connection's next request ◄──────┘
//! ```
//!
//! ## Why the framing is hyper's
//! Only a *clean* request is answered outside hyper: a whole HTTP/1.1 head with no
//! `Content-Length`, `Transfer-Encoding`, `Expect` or `Upgrade`, whose `Connection` tokens are
//! only `keep-alive`, within 100 headers and 64 KiB, that `httparse` and `http` accept. It has
//! no body, so its head is all of it, and the next request starts right after. Everything
//! else (bodies, HTTP/1.0, `Connection: close`, upgrades, malformed or oversized heads) goes
//! to hyper for the rest of the connection, with the bytes already read put back, built as
//! `axum::serve` builds it: hyper answers or refuses it as it would on its own.
//!
//! A clean request's non-stream response is written by hyper too: hyper is given the same
//! head again and a view of the socket that reads nothing past it, writes the response as
//! it would on a kept-alive connection of its own, and is dropped once the body is done and
//! hyper has flushed (it flushes the socket only once its own buffer is empty). The
//! connection then reads the next request itself. (Calling hyper's `graceful_shutdown`
//! instead would make it add `connection: close` to the response.) A response after which
//! hyper ends the connection (one that says `connection: close`, or a `2xx` to `CONNECT`,
//! which makes the connection a tunnel) closes it, as hyper would.
//!
//! A lean stream's head is written as hyper writes a chunked response to HTTP/1.1: the
//! router's status and headers, `transfer-encoding: chunked`, `date`. While it runs, what
//! the peer sends is kept (its first read, and no more reads until the stream ends, as hyper
//! stops reading once it holds the start of a next request) and answered when the stream
//! ends with its last chunk; a peer that leaves with nothing pipelined is closed at once, and
//! a half-close behind a pipelined request does not cut the stream.
//!
//! ## Limits
//! Every connection is bounded in memory, time and files whatever bytes arrive and whoever
//! serves it (the private module `limits` states the rules): this crate holds at most
//! [`BUFFER_BUDGET`] bytes for it in user space (a head, what was read ahead, what was
//! pipelined behind a stream); a first request head must arrive whole within
//! [`Options::head_timeout`] of the connection's start, a later one within it of its first
//! byte, however slowly it trickles; a connection may wait [`Options::idle_timeout`] for
//! its next request; a write that makes no progress for [`Options::stall_timeout`] closes
//! it. These deadlines hold on hyper's side too (after a hand-over, through hyper-util's
//! HTTP/2 sniff, and on HTTP/2), enforced here rather than by hyper's timers. When the
//! process runs out of files, the connection that has waited longest without a request in
//! flight is closed, on either side. A request in flight has no deadline but the stall
//! timeout: a route that reads a request body should bound it itself.
//! A stream's socket, lean or written by hyper, holds at most twice [`SEND_BUFFER`] in the
//! kernel, whatever the peer's TCP window, so a reader slower than its stream is soon
//! closed by the stall timeout or ended by the hub's backlog; and a peer that floods its
//! stream parks at most twice [`RECEIVE_BUFFER`] more there (`kernel_buffers.rs`).
//!
//! ## Use
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use axum::{Router, extract::State, response::Response, routing::get};
//! use sse_hub::{Hub, StreamOptions};
//! use std::{num::NonZeroUsize, time::Duration};
//!
//! async fn sse(State(hub): State<Hub<String>>, reply: sse_lean::Reply) -> Response {
//!     let options = StreamOptions {
//!         retry: Duration::from_secs(3),
//!         heartbeat: Duration::from_secs(15),
//!         limit: None,
//!         stop: Default::default(),
//!     };
//!     let subscription = hub.subscribe(None).expect("the stream is open");
//!     reply.stream(subscription.into_delivery(options), ())
//! }
//!
//! let hub: Hub<String> = Hub::new(NonZeroUsize::new(1024).unwrap(), NonZeroUsize::new(64).unwrap());
//! let router = Router::new().route("/sse", get(sse)).with_state(hub.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! sse_lean::Lean::default().serve(listener, router, hub.doorbell(), std::future::pending()).await
//! # }
//! ```
#![deny(missing_docs)]
// Not `forbid`: since tokio 1.54, putting the writers' epoll set in an `AsyncFd` is unsafe
// (`AsyncFd::register_with_interest`), and that one call is the crate's only unsafe code.
#![deny(unsafe_code)]

mod connection;
#[allow(unsafe_code, reason = "the writers' epoll set goes into an AsyncFd (see above)")]
mod fanout;
mod handover;
mod head;
mod kernel_buffers;
mod limits;
mod metrics;
mod once;
mod peer;
mod reply;
mod rewind;
mod slow;
mod stall;
mod waiting;
mod wire;

pub use kernel_buffers::{RECEIVE_BUFFER, SEND_BUFFER};
pub use limits::BUFFER_BUDGET;
pub use metrics::{StreamMetrics, Writer};
pub use reply::Reply;
pub use sse_hub::{Hub, LastEventId, StreamOptions};

use axum::Router;
use connection::{Connection, Shared};
use fanout::{Leaving, Writers};
use slow::Next;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use waiting::Waiting;

/// The connection layer's limits.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The most a client may take to send a whole request head: the first one from the
    /// connection's start, a later one from its first byte. One byte a second does not keep
    /// a connection, nor does a hand-over to hyper or an HTTP/2 preface restart the clock.
    pub head_timeout: Duration,
    /// How long a connection may wait for its next request once a response has ended, on
    /// this layer's side or hyper's.
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

    /// Serves `router` on `listener`, in the shape of `axum::serve`: `.await` it to run
    /// forever, or add [`Serve::with_graceful_shutdown`]. The writers wake whenever any
    /// [`Hub`] of the process publishes, so one server serves any number of hubs.
    ///
    /// Handlers see the peer's address as `ConnectInfo<SocketAddr>`.
    pub fn serve(self, listener: TcpListener, router: Router) -> Serve {
        Serve { lean: self, listener, router }
    }

    /// Serves until `shutdown` completes (see [`WithGracefulShutdown`]).
    async fn run(
        self,
        mut listener: TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let Self { options, metrics } = self;
        let (stop, tasks) = (CancellationToken::new(), TaskTracker::new());
        let (leaving, left) = mpsc::unbounded_channel();
        let writers = Writers::start(leaving, &tasks, &stop)?;
        let waiting = Arc::new(Waiting::default());
        let shared =
            Arc::new(Shared { router, writers, options, metrics, stop: stop.clone(), waiting });
        tasks.spawn(finish_leaving_streams(left, shared.clone(), tasks.clone()));
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = accept(&mut listener, &shared.waiting) => accepted,
            };
            // Waiting from now, in the order accepted, not the order its task first runs.
            let accepted = shared.waiting.enter();
            tasks.spawn(Connection::new(tcp, peer, accepted, shared.clone()).run());
        }
        drop(listener);
        stop.cancel();
        tasks.close();
        tasks.wait().await;
        Ok(())
    }
}

/// A server that runs until the process ends: `.await` it. Made by [`Lean::serve`].
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve {
    lean: Lean,
    listener: TcpListener,
    router: Router,
}

impl Serve {
    /// Serves until `signal` completes, then shuts down gracefully: it stops accepting,
    /// closes connections between requests, ends every open stream served with [`Reply`]
    /// (lean or written by hyper) as if the server had gone, so browsers reconnect, lets
    /// hyper finish the other responses it is writing, and returns once every connection
    /// is done. A stream a handler made without [`Reply`] ends when its body does.
    pub fn with_graceful_shutdown<F>(self, signal: F) -> WithGracefulShutdown<F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        WithGracefulShutdown { serve: self, signal }
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        self.with_graceful_shutdown(std::future::pending()).into_future()
    }
}

/// A server that shuts down gracefully when its signal completes: `.await` it. Made by
/// [`Serve::with_graceful_shutdown`].
#[must_use = "a server does nothing until it is awaited"]
pub struct WithGracefulShutdown<F> {
    serve: Serve,
    signal: F,
}

impl<F: Future<Output = ()> + Send + 'static> IntoFuture for WithGracefulShutdown<F> {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let Serve { lean, listener, router } = self.serve;
        Box::pin(lean.run(listener, router, self.signal))
    }
}

/// The next connection. Out of files, it closes the connection that has waited longest
/// without a request in flight, and tries again; other errors (a connection reset before it was
/// accepted) are logged and skipped.
async fn accept(listener: &mut TcpListener, waiting: &Waiting) -> (TcpStream, SocketAddr) {
    loop {
        let err = match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err) => err,
        };
        let out_of_files = matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        if out_of_files && waiting.shed_oldest() {
            tracing::warn!("out of files: closed the connection that waited longest for a request");
            // Its task closes it at its next poll.
            tokio::task::yield_now().await;
            continue;
        }
        tracing::warn!(%err, "cannot accept a connection");
        if out_of_files {
            // Nothing to shed: every file is a stream or a request in progress.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Gives each stream that leaves the writers a task of its own, which finishes the write
/// they started, then hands the stream back to them or serves the connection's next request.
async fn finish_leaving_streams(
    mut left: mpsc::UnboundedReceiver<Leaving>,
    shared: Arc<Shared>,
    tasks: TaskTracker,
) {
    // Ends once every writer has ended, at shutdown.
    while let Some(leaving) = left.recv().await {
        let shared = shared.clone();
        tasks.spawn(async move {
            match slow::drain(leaving, |tcp| shared.stall_guard(tcp)).await {
                Some(Next::Writers(stream)) => shared.writers.adopt(stream),
                Some(Next::NextRequest(ended)) => Connection::resume(ended, shared).run().await,
                None => {}
            }
        });
    }
}
