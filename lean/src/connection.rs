//! One connection's life: read a request head (within the head deadline; between requests,
//! within the idle timeout), then answer it, and again, until the peer leaves.
//!
//! - A clean request ([`head::read`]) runs through the router here. A lean reply goes to the
//!   writers with its connection, which comes back ([`Connection::resume`]) once the stream
//!   is over. Any other response is written by hyper ([`once`]), and the connection stays.
//! - Anything else, from the first request that is not clean, is hyper's for the rest of
//!   the connection, exactly as `axum::serve` would run it ([`handover`]).
//!
//! Its buffer, deadlines and shedding keep the rules of [`limits`](crate::limits).

use crate::fanout::{NewStream, Subscriber, Writers};
use crate::handover;
use crate::head::{self, Head};
use crate::kernel_buffers;
use crate::limits::{self, Phase};
use crate::metrics::{StreamMetrics, Writer};
use crate::once::{self, After};
use crate::reply::{Arrival, By, Held, LeanStream};
use crate::slow::Ended;
use crate::stall::StallGuard;
use crate::waiting::{Waiter, Waiting};
use crate::{Options, wire};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use axum::response::Response;
use bytes::BufMut;
use std::io::{ErrorKind, Read};
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
    pub fn stall_guard<T: std::os::fd::AsFd>(&self, io: T) -> StallGuard<T> {
        StallGuard::new(io, self.options.stall_timeout, self.metrics.stalled().clone())
    }
}

/// A connection between two requests.
pub struct Connection {
    tcp: TcpStream,
    peer: SocketAddr,
    /// Read and not yet answered: within [`limits::BUFFER_BUDGET`], allocation included.
    buf: Vec<u8>,
    /// Where it stands, and until when.
    phase: Phase,
    /// Its place among the waiting connections from the moment it was accepted, until its
    /// first request's head is read.
    accepted: Option<Waiter>,
    shared: Arc<Shared>,
}

impl Connection {
    /// A new connection, counted as waiting by `accepted` since it was accepted.
    pub fn new(tcp: TcpStream, peer: SocketAddr, accepted: Waiter, shared: Arc<Shared>) -> Self {
        // Events are small and must leave at once, not wait for Nagle's algorithm.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "could not set TCP_NODELAY");
        }
        let phase = Phase::connected(Instant::now(), &shared.options);
        Self { tcp, peer, buf: Vec::new(), phase, accepted: Some(accepted), shared }
    }

    /// A connection whose stream is over, for its next request.
    pub fn resume(ended: Ended, shared: Arc<Shared>) -> Self {
        let Ended { tcp, peer, kept } = ended;
        shared.metrics.buffered(kept.capacity());
        let phase = Phase::answered(Instant::now(), &shared.options, !kept.is_empty());
        Self { tcp, peer, buf: kept, phase, accepted: None, shared }
    }

    /// Answers requests until the peer leaves, a response closes the connection, a stream
    /// takes it, or hyper does.
    pub async fn run(mut self) {
        loop {
            let Some(head) = self.next_head().await else { return };
            let Head::Clean(request, len) = head else {
                let Self { tcp, peer, buf, phase, shared, .. } = self;
                return handover::serve(tcp, peer, buf, phase, shared).await;
            };
            if self.left_after(len) {
                return;
            }
            self.phase = self.phase.begin();
            let mut response = self.route(request).await;
            if let Some(held) = LeanStream::take(&mut response) {
                return self.stream(response, held, len);
            }
            if self.respond(response, len).await == After::Close {
                let _ = self.tcp.shutdown().await;
                return;
            }
            self.phase =
                Phase::answered(Instant::now(), &self.shared.options, !self.buf.is_empty());
        }
    }

    /// The next request's head, read whole; `None` if the peer left, its phase's deadline
    /// passed, or the server is stopping.
    /// While it waits, the connection may be shed to make room for a new one.
    async fn next_head(&mut self) -> Option<Head> {
        let waiter = self.accepted.take().unwrap_or_else(|| self.shared.waiting.enter());
        loop {
            if let Some(head) = head::read(&self.buf) {
                return Some(head);
            }
            self.read(&waiter).await?;
        }
    }

    /// Reads more, within the budget; `None` if the peer closed, the phase's deadline
    /// passed, the connection was shed, or the server is stopping.
    async fn read(&mut self, waiter: &Waiter) -> Option<()> {
        let deadline = self.phase.deadline()?;
        // Room for what a client sent at once, as hyper reads: a request and the body and
        // requests behind it then reach hyper together, as they would reach it on its own.
        let spare = self.buf.capacity().saturating_sub(self.buf.len());
        let want = if spare < READ_MIN { READ_BUFFER } else { spare };
        // Never 0: a buffer at the budget holds a whole head or goes to hyper.
        let room = limits::reserve(&mut self.buf, want);
        let mut within_budget = (&mut self.buf).limit(room);
        let read = tokio::time::timeout_at(deadline, self.tcp.read_buf(&mut within_budget));
        let read = tokio::select! {
            () = self.shared.stop.cancelled() => None,
            () = waiter.shed() => None,
            read = read => matches!(read, Ok(Ok(1..))).then_some(()),
        };
        self.shared.metrics.buffered(self.buf.capacity());
        if read.is_some() {
            self.phase = self.phase.read(Instant::now(), &self.shared.options);
        }
        read
    }

    /// Whether the peer has already shut its side with nothing after the `len`-byte request
    /// at the start of the buffer: hyper (whose `half_close` is off) then drops the request
    /// unanswered, and so does this layer. hyper looks only when its buffer holds nothing
    /// more, and reads what came, as this does (within the budget).
    fn left_after(&mut self, len: usize) -> bool {
        if self.buf.len() > len {
            return false;
        }
        // The socket itself, not tokio's idea of its readiness: a socket a stream has just
        // handed back may not have heard from the reactor about the FIN yet.
        let mut scratch = [0; READ_MIN];
        let room = limits::room(self.buf.len(), READ_MIN);
        let read =
            (&*socket2::SockRef::from(&self.tcp)).read(scratch.get_mut(..room).unwrap_or_default());
        match read {
            Ok(0) => room > 0,
            Ok(n) => {
                let arrived = scratch.get(..n).unwrap_or_default();
                limits::reserve(&mut self.buf, arrived.len());
                self.buf.extend_from_slice(arrived);
                self.shared.metrics.buffered(self.buf.capacity());
                false
            }
            Err(err) => !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
        }
    }

    /// The router's answer to `request`. A `GET` may be answered with a lean stream.
    async fn route(&self, mut request: Request<Body>) -> Response {
        let by = match *request.method() {
            Method::GET => By::Lean,
            _ => By::Hyper(self.shared.metrics.clone()),
        };
        let arrival = Arrival { by, stop: self.shared.stop.clone() };
        tag(&mut request, arrival, self.peer);
        let Ok(response) = self.shared.router.clone().oneshot(request).await;
        response
    }

    /// Hands the connection to the writers, with the stream's head and what the peer sent
    /// after its `len`-byte request.
    fn stream(self, response: Response, held: Held, len: usize) {
        // A copy of its exact size: usually nothing, and then no allocation per stream.
        let kept = self.buf.get(len..).unwrap_or_default().to_vec();
        let counted = self.shared.metrics.open(Writer::Lean);
        let subscriber = Subscriber { held, peer: self.peer, kept, counted };
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
        if kernel_buffers::is_stream(&response)
            && let Err(err) = kernel_buffers::bound(&self.tcp)
        {
            tracing::warn!(%err, peer = %self.peer, "cannot bound a stream's socket; closing it");
            return After::Close;
        }
        let tcp = self.shared.stall_guard(&mut self.tcp);
        let head = self.buf.get(..len).unwrap_or_default();
        let after = once::respond(tcp, head, response).await;
        self.buf.drain(..len.min(self.buf.len()));
        after
    }
}

/// What a handler learns of how `request` arrived: who can write its stream ([`Reply`]
/// reads it) and the peer's address.
///
/// [`Reply`]: crate::Reply
pub fn tag(request: &mut Request<Body>, arrival: Arrival, peer: SocketAddr) {
    request.extensions_mut().insert(arrival);
    request.extensions_mut().insert(ConnectInfo(peer));
}
