//! Connections whose writes stall are reset.
//!
//! A subscriber that stops reading fills its socket buffers, and then hyper (or a slow
//! stream's task) stops polling the stream: the hub can no longer see it fall behind, and the
//! connection, with its buffers, would stay forever. Failing a write that has made no
//! progress for the timeout closes the connection; the browser, if still there, resumes from
//! history. The socket is made to reset when closed ([`kernel_buffers::reset`]), so that
//! the kernel drops what it still queues for that peer at once, rather than go on trickling
//! it to a reader that takes a few bytes now and then.

use crate::kernel_buffers;
use prometheus_client::metrics::counter::Counter;
use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Sleep, sleep};

/// A socket whose writes fail with `TimedOut` once one has been pending for `timeout`; it
/// is then reset when closed.
pub struct StallGuard<T> {
    io: T,
    timeout: Duration,
    stalled: Counter,
    /// Set while a write is pending; boxed so the guard stays `Unpin`, and only then, so an
    /// idle connection does not carry a timer.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T: AsFd> StallGuard<T> {
    /// Guards `io`, counting in `stalled` if it times out.
    pub fn new(io: T, timeout: Duration, stalled: Counter) -> Self {
        Self { io, timeout, stalled, deadline: None }
    }

    /// The IO, unguarded.
    pub fn into_inner(self) -> T {
        self.io
    }

    /// Passes a finished write through; on a pending one, fails once the deadline is past.
    fn guard<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.deadline = None;
            return poll;
        }
        let timeout = self.timeout;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(sleep(timeout)));
        ready!(deadline.as_mut().poll(cx));
        self.stalled.inc();
        kernel_buffers::reset(&self.io);
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

impl<T: AsyncWrite + AsFd + Unpin> AsyncWrite for StallGuard<T> {
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::time::Instant;

    /// A loopback connection whose near end has a stream's bounded buffers.
    async fn connected() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let far = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (near, _) = listener.accept().await.unwrap();
        kernel_buffers::bound(&near).unwrap();
        (near, far)
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_reads_fails_after_the_timeout_and_resets() {
        let (near, mut far) = connected().await;
        let stalled = Counter::default();
        let mut guarded = StallGuard::new(near, Duration::from_secs(5), stalled.clone());
        let started = Instant::now();
        let err = guarded.write_all(&[0; 1 << 20]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(stalled.get(), 1);
        drop(guarded);
        // What the kernel still held for the peer is dropped, not trickled out.
        let mut received = Vec::new();
        let end = far.read_to_end(&mut received).await.unwrap_err();
        assert_eq!(end.kind(), io::ErrorKind::ConnectionReset);
    }

    /// On real time: a paused clock would run ahead of the window updates the reads send.
    #[tokio::test]
    async fn a_slow_but_reading_peer_is_never_cut() {
        const TOTAL: usize = 1 << 20;
        let (near, mut far) = connected().await;
        let stalled = Counter::default();
        let mut guarded = StallGuard::new(near, Duration::from_secs(2), stalled.clone());
        let reader = tokio::spawn(async move {
            let mut buf = vec![0; 256 * 1024];
            let mut total = 0;
            while total < TOTAL {
                // Slower than the writes, well within the timeout.
                tokio::time::sleep(Duration::from_millis(200)).await;
                total += far.read(&mut buf).await.unwrap();
            }
            total
        });
        guarded.write_all(&[7; TOTAL]).await.expect("each stall is shorter than the timeout");
        assert_eq!(reader.await.unwrap(), TOTAL);
        assert_eq!(stalled.get(), 0);
    }
}
