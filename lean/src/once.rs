//! hyper writes one response on a connection that stays ours: the answer to a clean request
//! (no body, HTTP/1.1, keep-alive) whose response the router has already made.
//!
//! hyper is given the request's head again, so that it writes the response exactly as it
//! would on a connection of its own (status line, `content-length` or chunks, `HEAD`, `204`
//! and `304`, `date`), and a view of the socket ([`OneRequest`]) that reads nothing after
//! that head. Its connection is dropped once the response is on the wire, which is known
//! from two facts: the response body is done (hyper dropped it, or saw its end), and hyper
//! has flushed after that. hyper flushes the socket only when its own write buffer is
//! empty, so by then the whole response has been written. Nothing is left behind in
//! hyper: it never read past the head, and the request had no body.
//!
//! `graceful_shutdown` would not do: called before the head is written, it makes hyper add
//! `connection: close` to the response (`Conn::enforce_version`).

use crate::head::says_close;
use crate::stall::StallGuard;
use axum::body::Body;
use axum::http::header::CONNECTION;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How the connection stands after a response.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    /// Ready for the next request.
    KeepAlive,
    /// To be closed: the response said so, or writing it failed.
    Close,
}

/// How far hyper got with the response, shared by its body and its view of the socket.
#[derive(Debug, Default)]
struct Progress {
    /// hyper is done with the body: it saw its end, or dropped it (`HEAD`, `204`).
    body_done: AtomicBool,
    /// hyper flushed the socket after that: the response is on the wire.
    flushed: AtomicBool,
}

/// Has hyper write `response` to the request whose head is `head`, on `tcp`.
pub async fn respond(tcp: StallGuard<&mut TcpStream>, head: &[u8], response: Response) -> After {
    let closes = says_close(response.headers().get_all(CONNECTION));
    let progress = Arc::new(Progress::default());
    let (parts, body) = response.into_parts();
    let body = Watched { body, progress: progress.clone() };
    let response = Mutex::new(Some(Response::from_parts(parts, body)));
    let service = hyper::service::service_fn(move |_same_request| {
        let mut response = response.lock().unwrap_or_else(|poison| poison.into_inner());
        std::future::ready(response.take().ok_or(OneRequestOnly))
    });
    let io = OneRequest { tcp, head, progress: progress.clone() };
    let mut connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    let flushed = || progress.flushed.load(Ordering::Acquire);
    let written = std::future::poll_fn(|cx| {
        match Pin::new(&mut connection).poll_without_shutdown(cx) {
            // hyper says the connection is over: an error, a head it refused, a response
            // that ends it, or an upgrade (a 2xx to `CONNECT`, a `101`), after which the
            // bytes are the tunnel's, not requests.
            Poll::Ready(_) => Poll::Ready(false),
            Poll::Pending if flushed() => Poll::Ready(true),
            Poll::Pending => Poll::Pending,
        }
    });
    match written.await && !closes {
        true => After::KeepAlive,
        false => After::Close,
    }
}

/// hyper asked for a second response on a connection given one request: it cannot, as it
/// reads nothing past the first head.
#[derive(Debug)]
struct OneRequestOnly;

impl std::fmt::Display for OneRequestOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("one request per hyper connection")
    }
}

impl std::error::Error for OneRequestOnly {}

/// A response body that tells [`Progress`] when hyper is done with it.
struct Watched {
    body: Body,
    progress: Arc<Progress>,
}

impl Watched {
    fn done(&self) {
        self.progress.body_done.store(true, Ordering::Release);
    }
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        if frame.is_none() {
            self.done();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        let end = self.body.is_end_stream();
        if end {
            self.done();
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.done();
    }
}

/// The socket as hyper sees it for one request: reads give the request's head, then
/// nothing (hyper is dropped before it could want more); writes go to the socket.
struct OneRequest<'a> {
    tcp: StallGuard<&'a mut TcpStream>,
    head: &'a [u8],
    progress: Arc<Progress>,
}

impl AsyncRead for OneRequest<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.head.is_empty() {
            return Poll::Pending;
        }
        let n = self.head.len().min(buf.remaining());
        buf.put_slice(&self.head[..n]);
        self.head = &self.head[n..];
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for OneRequest<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    /// hyper flushes the socket only once its own buffer is written out.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = ready!(Pin::new(&mut self.tcp).poll_flush(cx));
        if flushed.is_ok() && self.progress.body_done.load(Ordering::Acquire) {
            self.progress.flushed.store(true, Ordering::Release);
        }
        Poll::Ready(flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
