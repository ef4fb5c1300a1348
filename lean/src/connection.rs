//! One connection's life: read a request head (within the head deadline; between requests,
//! within the idle timeout), then answer it, and again, until the peer leaves.
//!
//! - A clean request ([`head::read`]) runs through the router here. A lean reply goes to the
//!   writers with its connection, which comes back ([`Connection::resume`]) once the stream
//!   is over. Any other response is written by hyper ([`once`]), and the connection stays.
//! - Anything else, from the first request that is not clean, is hyper's for the rest of
//!   the connection, exactly as `axum::serve` would run it.

use crate::fanout::{NewStream, Subscriber, Writers};
use crate::head::{self, Head};
use crate::metrics::{StreamMetrics, Writer};
use crate::once::{self, After};
use crate::reply::{Arrival, Held, LeanStream};
use crate::rewind::Rewind;
use crate::slow::Ended;
use crate::stall::StallGuard;
use crate::waiting::{Waiter, Waiting};
use crate::{Options, wire};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use axum::response::Response;
use bytes::{Buf, BytesMut};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// What a read asks for at least, as hyper's first read of a connection does.
const READ_BUFFER: usize = 8 * 1024;
/// Less room than this left in the buffer, and it grows by [`READ_BUFFER`] before a read.
const READ_MIN: usize = 1024;

/// What every connection shares.
pub struct Shared {
    pub router: Router,
    pub writers: Writers,
    pub options: Options,
    pub metrics: StreamMetrics,
    /// Cancelled at shutdown: connections close between requests.
    pub stop: CancellationToken,
    /// The connections waiting for a head, to shed when files run out.
    pub waiting: Arc<Waiting>,
}

impl Shared {
    /// `io`, whose writes fail once one has made no progress for the stall timeout.
    pub fn stall_guard<T>(&self, io: T) -> StallGuard<T> {
        StallGuard::new(io, self.options.stall_timeout, self.metrics.stalled().clone())
    }
}

/// A connection between two requests.
pub struct Connection {
    tcp: TcpStream,
    peer: SocketAddr,
    /// Read and not yet answered.
    buf: BytesMut,
    /// Whether a request was answered on it: until then it has a head's time, not an idle
    /// connection's, to send its first byte.
    served: bool,
    shared: Arc<Shared>,
}

impl Connection {
    /// A new connection.
    pub fn new(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> Self {
        // Events are small and must leave at once, not wait for Nagle's algorithm.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "could not set TCP_NODELAY");
        }
        Self { tcp, peer, buf: BytesMut::new(), served: false, shared }
    }

    /// A connection whose stream is over, for its next request.
    pub fn resume(ended: Ended, shared: Arc<Shared>) -> Self {
        let Ended { tcp, peer, kept } = ended;
        Self { tcp, peer, buf: BytesMut::from(&kept[..]), served: true, shared }
    }

    /// Answers requests until the peer leaves, a response closes the connection, a stream
    /// takes it, or hyper does.
    pub async fn run(mut self) {
        loop {
            let Some(head) = self.next_head().await else { return };
            let Head::Clean(request, len) = head else { return self.hyper_from_here().await };
            let mut response = self.route(request).await;
            if let Some(held) = LeanStream::take(&mut response) {
                return self.stream(response, held, len);
            }
            if self.respond(response, len).await == After::Close {
                let _ = self.tcp.shutdown().await;
                return;
            }
            self.served = true;
        }
    }

    /// The next request's head, read whole; `None` if the peer left, took too long, or the
    /// server is stopping.
    /// While it waits, the connection may be shed to make room for a new one.
    async fn next_head(&mut self) -> Option<Head> {
        let Options { head_timeout, idle_timeout, .. } = self.shared.options;
        let waiter = self.shared.waiting.enter();
        if self.buf.is_empty() {
            let wait = if self.served { idle_timeout } else { head_timeout };
            self.read_until(Instant::now() + wait, &waiter).await?;
        }
        // From its first byte, the whole head has this long, however it trickles in.
        let deadline = Instant::now() + head_timeout;
        loop {
            if let Some(head) = head::read(&self.buf) {
                return Some(head);
            }
            self.read_until(deadline, &waiter).await?;
        }
    }

    /// Reads more; `None` if the peer closed, `deadline` passed, the connection was shed,
    /// or the server is stopping.
    async fn read_until(&mut self, deadline: Instant, waiter: &Waiter) -> Option<()> {
        // Room for what a client sent at once, as hyper reads: a request and the body and
        // requests behind it then reach hyper together, as they would reach it on its own.
        if self.buf.capacity() - self.buf.len() < READ_MIN {
            self.buf.reserve(READ_BUFFER);
        }
        let read = tokio::time::timeout_at(deadline, self.tcp.read_buf(&mut self.buf));
        tokio::select! {
            () = self.shared.stop.cancelled() => None,
            () = waiter.shed() => None,
            read = read => matches!(read, Ok(Ok(1..))).then_some(()),
        }
    }

    /// The router's answer to `request`. A `GET` may be answered with a lean stream.
    async fn route(&self, mut request: Request<Body>) -> Response {
        let arrival = match *request.method() {
            Method::GET => Arrival::Lean,
            _ => Arrival::Hyper(self.shared.metrics.clone()),
        };
        tag(&mut request, arrival, self.peer);
        let Ok(response) = self.shared.router.clone().oneshot(request).await;
        response
    }

    /// Hands the connection to the writers, with the stream's head and what the peer sent
    /// after its `len`-byte request.
    fn stream(mut self, response: Response, held: Held, len: usize) {
        self.buf.advance(len);
        let counted = self.shared.metrics.open(Writer::Lean);
        let subscriber = Subscriber { held, peer: self.peer, kept: self.buf.to_vec(), counted };
        match self.tcp.into_std() {
            Ok(tcp) => {
                let head = wire::stream_head(response);
                self.shared.writers.adopt(NewStream { tcp, head, subscriber });
            }
            Err(err) => {
                tracing::warn!(%err, peer = %self.peer, "cannot hand a stream to its writer")
            }
        }
    }

    /// Has hyper write `response` to the `len`-byte request at the start of the buffer.
    async fn respond(&mut self, response: Response, len: usize) -> After {
        let tcp = self.shared.stall_guard(&mut self.tcp);
        let after = once::respond(tcp, &self.buf[..len], response).await;
        self.buf.advance(len);
        after
    }

    /// Leaves the rest of the connection to hyper, from the request at the start of the
    /// buffer, as `axum::serve` runs a connection, with the head deadline as its
    /// header-read timeout (which also bounds its idle time between requests).
    async fn hyper_from_here(self) {
        let Self { tcp, peer, buf, shared, .. } = self;
        let io = TokioIo::new(Rewind::new(shared.stall_guard(tcp), buf.freeze()));
        let (router, metrics) = (shared.router.clone(), shared.metrics.clone());
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let mut request = request.map(Body::new);
            tag(&mut request, Arrival::Hyper(metrics.clone()), peer);
            router.clone().oneshot(request)
        });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(shared.options.head_timeout);
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            () = shared.stop.cancelled() => connection.as_mut().graceful_shutdown(),
        }
        let _ = connection.await;
    }
}

/// What a handler learns of how `request` arrived: who can write its stream ([`Reply`]
/// reads it) and the peer's address.
///
/// [`Reply`]: crate::Reply
fn tag(request: &mut Request<Body>, arrival: Arrival, peer: SocketAddr) {
    request.extensions_mut().insert(arrival);
    request.extensions_mut().insert(ConnectInfo(peer));
}
