//! Connections whose writes stall are closed.
//!
//! A subscriber that stops reading fills its socket buffers, and then hyper stops polling
//! the response body: the hub can no longer see it fall behind, and the connection, with its
//! buffers, would stay forever. Failing a write that has made no progress for the timeout
//! makes hyper close the connection; the browser, if still there, resumes from history.

use axum::serve::Listener;
use prometheus_client::metrics::counter::Counter;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep, sleep};

/// A TCP listener whose connections fail a write stalled for longer than `timeout`.
pub struct StallGuardListener {
    inner: TcpListener,
    timeout: Duration,
    stalled: Counter,
}

impl StallGuardListener {
    /// Guards the connections of `inner`, counting the ones closed in `stalled`.
    pub fn new(inner: TcpListener, timeout: Duration, stalled: Counter) -> Self {
        Self { inner, timeout, stalled }
    }
}

impl Listener for StallGuardListener {
    type Io = StallGuard<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept retries (and logs) on errors such as running out of files.
        let (io, addr) = Listener::accept(&mut self.inner).await;
        (StallGuard::new(io, self.timeout, self.stalled.clone()), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An IO whose writes fail with `TimedOut` once one has been pending for `timeout`.
pub struct StallGuard<T> {
    io: T,
    timeout: Duration,
    stalled: Counter,
    /// Armed while a write is pending; boxed once per connection so the guard stays `Unpin`.
    deadline: Pin<Box<Sleep>>,
    armed: bool,
}

impl<T> StallGuard<T> {
    /// Guards `io`, counting in `stalled` if it times out.
    pub fn new(io: T, timeout: Duration, stalled: Counter) -> Self {
        Self { io, timeout, stalled, deadline: Box::pin(sleep(timeout)), armed: false }
    }

    /// The guarded IO, for socket options.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Passes a finished write through; on a pending one, fails once the deadline is past.
    fn guard<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.armed = false;
            return poll;
        }
        if !self.armed {
            self.deadline.as_mut().reset(Instant::now() + self.timeout);
            self.armed = true;
        }
        ready!(self.deadline.as_mut().poll(cx));
        self.stalled.inc();
        tracing::warn!(timeout = ?self.timeout, "closing a connection whose peer stopped reading");
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading")))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.guard(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.guard(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_reads_fails_after_the_timeout() {
        let (near, _far) = duplex(16);
        let stalled = Counter::default();
        let mut guarded = StallGuard::new(near, Duration::from_secs(5), stalled.clone());
        guarded.write_all(&[0; 16]).await.unwrap(); // fills the pipe
        let started = Instant::now();
        let err = guarded.write_all(&[0; 1]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(stalled.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_but_reading_peer_is_never_cut() {
        let (near, mut far) = duplex(16);
        let stalled = Counter::default();
        let mut guarded = StallGuard::new(near, Duration::from_secs(5), stalled.clone());
        let reader = tokio::spawn(async move {
            let mut buf = [0; 16];
            let mut total = 0;
            while total < 1_000 {
                tokio::time::sleep(Duration::from_secs(4)).await; // slower than writes, within the timeout
                total += far.read(&mut buf).await.unwrap();
            }
            total
        });
        guarded.write_all(&[7; 1_000]).await.expect("each stall is shorter than the timeout");
        assert!(reader.await.unwrap() >= 1_000);
        assert_eq!(stalled.get(), 0);
    }
}
