//! The `/sse` fast path: a connection whose first request is `GET /sse` is not served by
//! hyper. Its request head is parsed here (`httparse`) and handed to the same router as
//! every other request, so the stream is decided exactly as on the hyper path (query,
//! `Last-Event-ID`, the `503` cap, `204`, CORS); only the writing differs. The socket then
//! goes to the [`Writers`], which write the hub's shared, pre-encoded frames straight to it,
//! one `writev` per event, with no HTTP machinery left behind: hyper keeps an 8 KiB read
//! buffer, write buffers and a dispatcher per connection, most of a stream's memory. A
//! stream that cannot keep up gets a task of its own ([`SlowStreams`]).
//!
//! Every other connection goes to axum with the bytes already read put back in front
//! ([`Rewind`]); a `/sse` request later on such a keep-alive connection is served by hyper
//! (`Subscription::into_stream`), from the same [`Delivery`].

use crate::connections::{OpenStream, Peer};
use crate::fanout::{NewStream, Writers};
use crate::stall::StallGuard;
use crate::wire::{self, LAST_CHUNK, SizeLine};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use axum::response::IntoResponse;
use bytes::{Buf, Bytes, BytesMut};
use prometheus_client::metrics::counter::Counter;
use sse_hub::{Delivery, SSE_HEADERS};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing_futures::Instrument;

/// The start of every request line the fast path takes.
const SSE_REQUEST: &[u8] = b"GET /sse";
/// The longest request head read here, as hyper's default limit allows about as much.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// How long a new connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections waiting for axum to accept them.
const HANDOVER_QUEUE: usize = 1024;

/// Present in a request that came in on the fast path: the `/sse` handler then answers
/// with [`streaming_response`] rather than a hyper body.
#[derive(Clone, Copy, Debug)]
pub struct FastPath;

/// What the fast path needs from the rest of the server.
#[derive(Clone)]
pub struct FastSse {
    /// Every route, with its layers: the `/sse` request goes through them like any other.
    pub app: Router,
    /// They write the streams.
    pub writers: Arc<Writers>,
    /// Cancelled at shutdown: stops accepting, and ends every stream.
    pub stop: CancellationToken,
    /// Every connection task, so that shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Connections for axum.
    pub handover: Handover,
}

/// A connection for axum, with the bytes already read from it.
type Handed = (Rewind<TcpStream>, SocketAddr);

/// The way to axum for the connections the fast path does not keep: those whose first
/// request is not `/sse`, and those whose stream has ended, for their next request (the
/// stream's head said `keep-alive`, and hyper would have kept the connection too).
#[derive(Clone)]
pub struct Handover(mpsc::Sender<Handed>);

impl Handover {
    /// The way in, and its end, for [`SseSplitter::new`].
    pub fn new() -> (Self, HandoverQueue) {
        let (hand, handed) = mpsc::channel(HANDOVER_QUEUE);
        (Self(hand), HandoverQueue(handed))
    }

    /// Hands `tcp` to axum, `read` being what was already read from it. Once axum has
    /// stopped accepting (shutdown), the connection is closed.
    async fn send(&self, tcp: TcpStream, read: Bytes, peer: SocketAddr) {
        let _ = self.0.send((Rewind::new(tcp, read), peer)).await;
    }
}

/// The connections handed to axum, in order.
pub struct HandoverQueue(mpsc::Receiver<Handed>);

/// Where the streams go that leave the [`Writers`]: those that cannot keep up, and those
/// that end. A task each writes the rest under the stall guard.
#[derive(Clone)]
pub struct SlowStreams {
    /// A stream whose write made no progress for this long is closed (as on the hyper path).
    pub stall_timeout: Duration,
    pub stalled: Counter,
    /// Every such task, and the writers, so that shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Where an ended stream's connection goes, for its next request.
    pub handover: Handover,
}

impl SlowStreams {
    /// Writes `unsent`, then the rest of `delivery`, in a task of its own; once the stream
    /// has ended, the connection goes to axum.
    pub fn spawn(
        &self,
        tcp: std::net::TcpStream,
        unsent: Vec<u8>,
        delivery: Delivery,
        open: OpenStream,
    ) {
        let tcp = match TcpStream::from_std(tcp) {
            Ok(tcp) => StallGuard::new(tcp, self.stall_timeout, self.stalled.clone()),
            Err(err) => {
                return tracing::warn!(%err, peer = %open.peer(), "cannot wait for a stream's socket");
            }
        };
        let span = tracing::info_span!("sse", peer = %open.peer());
        let handover = self.handover.clone();
        self.tasks.spawn(stream_rest(tcp, unsent, delivery, open, handover).instrument(span));
    }
}

/// The stream a fast-path `/sse` request gets, carried out of the router in the response's
/// extensions (which must be `Clone`, hence the shared slot).
#[derive(Clone)]
struct FastStream(Arc<Mutex<Option<(Delivery, OpenStream)>>>);

/// The `/sse` handler's answer on the fast path: the SSE headers, and the stream to write.
pub fn streaming_response(delivery: Delivery, open: OpenStream) -> axum::response::Response {
    let stream = FastStream(Arc::new(Mutex::new(Some((delivery, open)))));
    let mut response = SSE_HEADERS.into_response();
    response.extensions_mut().insert(stream);
    response
}

/// A listener for axum that keeps the connections starting with `GET /sse` for itself.
pub struct SseSplitter {
    handed: HandoverQueue,
    local_addr: SocketAddr,
}

impl SseSplitter {
    /// Accepts on `listener` until `fast.stop`, sorting each connection by its first
    /// request; axum accepts what arrives in `handed`, the end of `fast.handover`.
    pub fn new(listener: TcpListener, handed: HandoverQueue, fast: FastSse) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        tokio::spawn(accept_loop(listener, fast));
        Ok(Self { handed, local_addr })
    }
}

impl axum::serve::Listener for SseSplitter {
    type Io = Rewind<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handed.0.recv().await {
            Some(connection) => connection,
            // Shutting down: axum stops accepting on its own.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(mut listener: TcpListener, fast: FastSse) {
    loop {
        // axum's accept retries (and logs) on errors such as running out of files.
        let (tcp, peer) = tokio::select! {
            () = fast.stop.cancelled() => return,
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
        };
        fast.tasks.spawn(sort(tcp, peer, fast.clone()));
    }
}

/// Reads the start of the first request and serves it here (`/sse`) or hands it to axum.
async fn sort(mut tcp: TcpStream, peer: SocketAddr, fast: FastSse) {
    // Events are small and must leave at once, not wait for Nagle's algorithm.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::warn!(%err, "could not set TCP_NODELAY");
    }
    let mut head = BytesMut::with_capacity(1024);
    loop {
        if !read_more(&mut tcp, &mut head, &fast.stop).await {
            return;
        }
        match first_request(&head) {
            FirstRequest::Undecided => continue,
            FirstRequest::Sse => break,
            FirstRequest::Other => return fast.handover.send(tcp, head.freeze(), peer).await,
        }
    }
    serve_sse(tcp, peer, head, fast).await;
}

/// Reads more of a request head into `head`: `false` if the peer closed, went quiet for
/// [`HEAD_TIMEOUT`], or the server is stopping.
async fn read_more(tcp: &mut TcpStream, head: &mut BytesMut, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        read = tokio::time::timeout(HEAD_TIMEOUT, tcp.read_buf(head)) => matches!(read, Ok(Ok(1..))),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum FirstRequest {
    Undecided,
    Sse,
    Other,
}

/// Whether a connection whose first bytes are `start` asks for `/sse` (with or without a
/// query), something else, or has not said enough yet.
fn first_request(start: &[u8]) -> FirstRequest {
    let shared = start.len().min(SSE_REQUEST.len());
    if start[..shared] != SSE_REQUEST[..shared] {
        return FirstRequest::Other;
    }
    match start.get(SSE_REQUEST.len()) {
        None => FirstRequest::Undecided,
        Some(b' ' | b'?') => FirstRequest::Sse,
        Some(_) => FirstRequest::Other,
    }
}

/// Reads the rest of the request head, runs it through the router, and writes the answer:
/// the stream, or (a refusal) the whole response, and closes.
async fn serve_sse(mut tcp: TcpStream, peer: SocketAddr, mut head: BytesMut, fast: FastSse) {
    let mut request = loop {
        match parse_head(&head) {
            Ok(Some(request)) => break request,
            Ok(None) if head.len() < MAX_HEAD => {}
            Ok(None) => return refuse(tcp, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).await,
            Err(err) => {
                tracing::debug!(%err, "malformed request head");
                return refuse(tcp, StatusCode::BAD_REQUEST).await;
            }
        }
        if !read_more(&mut tcp, &mut head, &fast.stop).await {
            return;
        }
    };
    drop(head);
    request.extensions_mut().insert(ConnectInfo(Peer(peer)));
    request.extensions_mut().insert(FastPath);
    let Ok(mut response) = fast.app.oneshot(request).await;
    let stream = response.extensions_mut().remove::<FastStream>();
    match stream.and_then(|FastStream(slot)| slot.lock().ok()?.take()) {
        Some((delivery, open)) => match tcp.into_std() {
            Ok(tcp) => {
                fast.writers.adopt(NewStream { tcp, head: stream_head(response), delivery, open })
            }
            Err(err) => tracing::warn!(%err, %peer, "cannot hand a stream's socket to its writer"),
        },
        None => answer_and_close(tcp, response).await,
    }
}

/// The request in `head`, `None` while it is incomplete.
fn parse_head(head: &[u8]) -> Result<Option<Request<Body>>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    if parsed.parse(head).map_err(|err| err.to_string())?.is_partial() {
        return Ok(None);
    }
    let mut request = Request::builder()
        .method(parsed.method.unwrap_or("GET"))
        .uri(parsed.path.unwrap_or("/"))
        .version(if parsed.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 });
    for header in parsed.headers.iter() {
        request = request.header(header.name, header.value);
    }
    request.body(Body::empty()).map(Some).map_err(|err| err.to_string())
}

/// A response to a request the router never saw, then the connection closes.
async fn refuse(tcp: TcpStream, status: StatusCode) {
    let reason = status.canonical_reason().unwrap_or("error");
    answer_and_close(tcp, (status, reason).into_response()).await;
}

/// Writes `response` whole (a refusal, `204`, `503`: small) and closes the connection.
async fn answer_and_close(mut tcp: TcpStream, response: axum::response::Response) {
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_HEAD).await else { return };
    let mut headers = parts.headers;
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    let head = response_head(parts.status, &headers);
    let _ = wire::write_all(&mut tcp, &[head.as_bytes(), &body]).await;
    let _ = tcp.shutdown().await;
}

/// The head of a streaming response: the router's headers, framed in chunks.
fn stream_head(response: Response<Body>) -> String {
    let (parts, _empty) = response.into_parts();
    let mut headers = parts.headers;
    // The body is the chunks `stream_to` writes, not the router's empty one.
    headers.remove(CONTENT_LENGTH);
    headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    response_head(parts.status, &headers)
}

/// Writes `unsent`, then every frame of `delivery` as one HTTP chunk each, until the
/// stream ends (then the last chunk, and the connection goes to axum) or the peer goes away.
async fn stream_rest(
    mut tcp: StallGuard<TcpStream>,
    unsent: Vec<u8>,
    mut delivery: Delivery,
    open: OpenStream,
    handover: Handover,
) {
    if wire::write_all(&mut tcp, &[&unsent]).await.is_err() {
        return;
    }
    drop(unsent);
    loop {
        let frames = tokio::select! {
            biased;
            gone = peer_gone(tcp.get_ref()) => if gone { return } else { continue },
            frames = delivery.next() => frames,
        };
        let Some(frames) = frames else { break };
        let mut size = SizeLine::default();
        if wire::write_all(&mut tcp, &wire::chunk(&mut size, &frames)).await.is_err() {
            return;
        }
    }
    if wire::write_all(&mut tcp, &[LAST_CHUNK]).await.is_ok() {
        let peer = open.peer();
        drop(open);
        handover.send(tcp.into_inner(), Bytes::new(), peer).await;
    }
}

/// Waits until the peer sends something: `true` once it has closed (or reset) the
/// connection; what else it sends on a streaming connection is read and ignored.
async fn peer_gone(tcp: &TcpStream) -> bool {
    // poll_read_ready keeps one waker in the socket, where readable() would queue a waiter
    // each time it is called: this runs once per event.
    if std::future::poll_fn(|cx| tcp.poll_read_ready(cx)).await.is_err() {
        return true;
    }
    let mut scratch = [0; 256];
    match tcp.try_read(&mut scratch) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => err.kind() != io::ErrorKind::WouldBlock,
    }
}

/// `HTTP/1.1 <status>` and the headers, with `date` as hyper adds it.
fn response_head(status: StatusCode, headers: &HeaderMap) -> String {
    use std::fmt::Write;
    let reason = status.canonical_reason().unwrap_or("");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", status.as_u16());
    for (name, value) in headers {
        let _ = write!(head, "{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes()));
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let _ = write!(head, "date: {date}\r\n\r\n");
    head
}

/// An IO that first gives back bytes already read from it: a connection sorted by its first
/// bytes goes to hyper whole.
pub struct Rewind<T> {
    read: Bytes,
    io: T,
}

impl<T> Rewind<T> {
    fn new(io: T, read: Bytes) -> Self {
        Self { read, io }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
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

    #[test]
    fn only_get_sse_takes_the_fast_path() {
        assert_eq!(first_request(b"GET /sse HTTP/1.1\r\n"), FirstRequest::Sse);
        assert_eq!(first_request(b"GET /sse?limit=3 HTTP/1.1\r\n"), FirstRequest::Sse);
        assert_eq!(first_request(b"GET /sse"), FirstRequest::Undecided);
        assert_eq!(first_request(b"GE"), FirstRequest::Undecided);
        assert_eq!(first_request(b"GET /ssex HTTP/1.1\r\n"), FirstRequest::Other);
        assert_eq!(first_request(b"GET / HTTP/1.1\r\n"), FirstRequest::Other);
        assert_eq!(first_request(b"POST /sse HTTP/1.1\r\n"), FirstRequest::Other);
        assert_eq!(first_request(b"PRI * HTTP/2.0"), FirstRequest::Other);
    }

    #[test]
    fn a_head_parses_once_complete() {
        let head = b"GET /sse?lastEventId=1-2 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1-3\r\n\r\n";
        assert!(parse_head(&head[..20]).unwrap().is_none());
        let request = parse_head(head).unwrap().unwrap();
        assert_eq!(request.uri(), "/sse?lastEventId=1-2");
        assert_eq!(request.headers()["last-event-id"], "1-3");
        assert!(parse_head(b"GET /sse HTTP/1.1\r\nbad header\r\n\r\n").is_err());
    }

    #[tokio::test]
    async fn rewind_gives_back_what_was_read_first() {
        let (near, mut far) = tokio::io::duplex(64);
        far.write_all(b" world").await.unwrap();
        let mut rewound = Rewind::new(near, Bytes::from_static(b"hello"));
        let mut text = [0; 11];
        rewound.read_exact(&mut text).await.unwrap();
        assert_eq!(&text, b"hello world");
    }
}
