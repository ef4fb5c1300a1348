//! What the kernel may hold for a stream's socket, whoever writes the stream.
//!
//! ## Invariant
//! Every socket that carries an event stream (a lean one, or one hyper writes: after a
//! request body, on HTTP/1.0, after `Connection: close`, on HTTP/2, or a handler's own
//! `text/event-stream` response) has fixed kernel buffers before the stream's first byte
//! is written ([`bound`], [`BoundWhenStreaming`]), whatever the peer's TCP window:
//! - its send queue holds at most twice [`SEND_BUFFER`] (Linux doubles `SO_SNDBUF` for its
//!   bookkeeping, and counts the packets' overhead in it too), instead of growing on its own
//!   up to `tcp_wmem`'s maximum (4 MiB by default);
//! - its receive queue holds at most twice [`RECEIVE_BUFFER`] beyond the window the kernel
//!   had already offered the peer (a window once offered is not taken back). A stream reads
//!   one piece of what its peer sends ([`peer`](crate::peer)), so the kernel would not grow
//!   this buffer on its own; fixing it keeps a flooding peer's share from depending on
//!   `tcp_rmem`'s default.
//!
//! The rest of a stream's bytes wait in user space, at most the rest of one write (an HTTP
//! chunk of up to three frames in a lean stream's task, [`slow`](crate::slow); a few of
//! hyper's queued buffers otherwise), and in the hub, at most its backlog of events behind
//! the live stream, shared by every subscriber.
//!
//! So a peer that reads slower than the stream fills its socket within that many bytes, and
//! then either its socket takes nothing for the stall timeout, and the connection is reset
//! ([`reset`]: the kernel drops its queue at once) and counted as stalled, or the socket takes some, and the stream finds itself more than the hub's
//! backlog behind: it ends (the browser resumes from history), counted as dropped slow.
//!
//! What the peer's own receive buffer holds is its memory, not the server's: it is never
//! counted here, and it only delays the moment the server's queue fills.
//!
//! The price: Linux cannot give a socket its autotuning back, so the connection keeps the
//! fixed buffers after its stream too, and a response on it (a stream's connection seldom
//! carries another; on HTTP/2, every response after the stream began) goes out at most
//! 32 KiB a round trip.

use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use std::io::{self, IoSlice};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The send buffer a stream's socket is given (`SO_SNDBUF`): the kernel holds at most
/// twice this for a stream, packets' overhead included. Enough for a burst of events to a
/// reader that keeps up, or for a few hundred kilobytes of replay a round trip.
pub const SEND_BUFFER: usize = 16 * 1024;

/// The receive buffer a stream's socket is given (`SO_RCVBUF`): room for the start of a
/// request pipelined behind the stream; the peer's next bytes wait on its side.
pub const RECEIVE_BUFFER: usize = 16 * 1024;

/// Fixes `tcp`'s buffers at [`SEND_BUFFER`] and [`RECEIVE_BUFFER`].
pub fn bound(tcp: &impl AsFd) -> io::Result<()> {
    let socket = socket2::SockRef::from(tcp);
    socket.set_send_buffer_size(SEND_BUFFER)?;
    socket.set_recv_buffer_size(RECEIVE_BUFFER)
}

/// Makes closing `tcp` reset the connection, so that the kernel frees what is queued for a
/// peer that stopped reading at once rather than keep trying to send it.
pub fn reset(tcp: &impl AsFd) {
    if let Err(err) = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%err, "cannot make a stalled connection's close a reset");
    }
}

/// Whether `response` is an event stream, whose socket must be bounded before it is written.
pub fn is_stream(response: &Response) -> bool {
    let content_type = response.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok());
    content_type.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("text/event-stream")
    })
}

/// A socket hyper writes, bounded ([`bound`]) before its first write after
/// [`StreamingFlag::set`]: hyper's responses are made in a service that cannot reach the
/// socket, so the service raises the flag, and the socket sees it here.
pub struct BoundWhenStreaming<T> {
    io: T,
    streaming: StreamingFlag,
    bounded: bool,
}

/// Raised when a response on the connection is an event stream.
#[derive(Clone, Debug, Default)]
pub struct StreamingFlag(Arc<AtomicBool>);

impl StreamingFlag {
    /// A response on the connection is an event stream.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl<T: AsFd> BoundWhenStreaming<T> {
    pub fn new(io: T, streaming: StreamingFlag) -> Self {
        Self { io, streaming, bounded: false }
    }

    /// Bounds the socket once the flag is up; a socket that cannot be bounded fails the write.
    fn bound_if_streaming(&mut self) -> io::Result<()> {
        if !self.bounded && self.streaming.0.load(Ordering::Acquire) {
            bound(&self.io)?;
            self.bounded = true;
        }
        Ok(())
    }
}

impl<T: AsFd> AsFd for BoundWhenStreaming<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for BoundWhenStreaming<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + AsFd + Unpin> AsyncWrite for BoundWhenStreaming<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.bound_if_streaming()?;
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.bound_if_streaming()?;
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use tokio::io::AsyncWriteExt;

    fn connected() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    fn buffers(tcp: &impl AsFd) -> (usize, usize) {
        let socket = socket2::SockRef::from(tcp);
        (socket.send_buffer_size().unwrap(), socket.recv_buffer_size().unwrap())
    }

    #[test]
    fn a_bounded_socket_holds_twice_its_buffers_and_no_more() {
        let (server, _client) = connected();
        bound(&server).unwrap();
        assert_eq!(buffers(&server), (2 * SEND_BUFFER, 2 * RECEIVE_BUFFER));
    }

    #[tokio::test]
    async fn a_socket_hyper_writes_is_bounded_from_the_first_write_after_the_flag() {
        let (server, _client) = connected();
        server.set_nonblocking(true).unwrap();
        let unbounded = buffers(&server);
        let flag = StreamingFlag::default();
        let mut io =
            BoundWhenStreaming::new(tokio::net::TcpStream::from_std(server).unwrap(), flag.clone());
        io.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        assert_eq!(buffers(&io.io), unbounded, "not bounded before the flag");
        flag.set();
        io.write_all(b"\r\n").await.unwrap();
        assert_eq!(buffers(&io.io), (2 * SEND_BUFFER, 2 * RECEIVE_BUFFER));
    }

    #[test]
    fn only_event_streams_are_streams() {
        let with = |content_type: &'static str| {
            let mut response = Response::new(axum::body::Body::empty());
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            is_stream(&response)
        };
        assert!(with("text/event-stream"));
        assert!(with("Text/Event-Stream; charset=utf-8"));
        assert!(!with("text/event-streams"));
        assert!(!with("text/html"));
        assert!(!is_stream(&Response::new(axum::body::Body::empty())));
    }
}
