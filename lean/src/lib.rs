#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// Not `forbid`: since tokio 1.54, putting the writers' epoll set in an `AsyncFd` is unsafe
// (`AsyncFd::register_with_interest`), and that one call is the crate's only unsafe code.
#![deny(unsafe_code)]

mod by_hub;
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
pub use sse_hub::{EventName, Hub, LastEventId, StreamOptions};

/// The head parser, for `lean/fuzz` only (feature `fuzzing`; not part of the API): what
/// `head::read` makes of `buf` at the start of a connection's buffer. `None`: read more;
/// `Some(None)`: hyper's to serve; `Some(Some(len))`: a clean request, its head `len` bytes.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_head(buf: &[u8]) -> Option<Option<usize>> {
    head::read(buf).map(|head| match head {
        head::Head::Clean(_, len) => Some(len),
        head::Head::ForHyper => None,
    })
}

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

/// The longest the acceptor waits for a shed connection to close before it tries again.
const SHED_RELEASE: Duration = Duration::from_secs(1);

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
        if out_of_files && let Some(shed) = waiting.shed_oldest() {
            tracing::warn!("out of files: closed the connection that waited longest for a request");
            // Its task closes it at its next poll; accepting before that would fail again and
            // shed another. Bounded, should that task not run.
            let _ = tokio::time::timeout(SHED_RELEASE, shed.released()).await;
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
