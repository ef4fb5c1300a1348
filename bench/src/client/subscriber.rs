//! One subscriber from connect to the end of its stream: a TCP connection from its own
//! loopback source address, with `--reuse-connection` an ordinary request first (its
//! response read whole, as a page load or a proxy's pooled connection leaves it), then
//! `GET` as an `EventSource` sends it (with `Last-Event-ID` when it resumes), and the body
//! fed to the SSE parser as it arrives, every item counted in the run's tally.

use super::lock;
use super::sse::{Item, Parser};
use super::tally::{StreamNo, Tally};
use super::target::Target;
use bytes::Bytes;
use http::header::{ACCEPT, HOST};
use http::uri::PathAndQuery;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpSocket;

/// One subscriber: where and how it connects, and the tally it counts into.
pub struct Subscriber {
    pub(super) target: Arc<Target>,
    pub(super) tally: Arc<Mutex<Tally>>,
    /// The loopback address it connects from.
    pub(super) source: Ipv4Addr,
    /// Sent as `Last-Event-ID`, as a browser does when it reconnects.
    pub(super) resume_from: Option<String>,
    /// How long the connection and the response head may take.
    pub(super) patience: Duration,
    /// The ordinary request sent on the connection before the stream, if any.
    pub(super) warm_up: Option<PathAndQuery>,
}

impl Subscriber {
    /// The id it resumes after, if any.
    pub fn resume_from(&self) -> Option<&str> {
        self.resume_from.as_deref()
    }

    /// Connects and reads until the stream ends; `watch` sees every item as well.
    pub async fn run(self, mut watch: impl FnMut(&Item<'_>)) {
        let handshake = tokio::time::timeout(self.patience, handshake(&self.target, self.source));
        let (sender, connection) = match handshake.await {
            Ok(Ok(opened)) => opened,
            Ok(Err(reason)) => return lock(&self.tally).failed(reason),
            Err(_) => {
                return lock(&self.tally)
                    .failed("no connection within --connect-timeout-secs".into());
            }
        };
        // The connection must be driven while the request and the body are read.
        let (_, ()) = tokio::join!(connection, self.read_stream(sender, &mut watch));
    }

    /// Sends the warm-up request if any, then `GET` of the stream, and on `200` reads the
    /// stream until it ends.
    async fn read_stream(
        &self,
        mut sender: SendRequest<Empty<Bytes>>,
        watch: &mut impl FnMut(&Item<'_>),
    ) {
        if let Some(path) = &self.warm_up
            && let Err(reason) = self.warm_up(&mut sender, path).await
        {
            return lock(&self.tally).failed(reason);
        }
        let request = stream_request(&self.target, self.resume_from());
        let response = match tokio::time::timeout(self.patience, sender.send_request(request)).await
        {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return lock(&self.tally).failed(format!("request: {err}")),
            Err(_) => {
                return lock(&self.tally)
                    .failed("no response within --connect-timeout-secs".into());
            }
        };
        if response.status() != http::StatusCode::OK {
            return lock(&self.tally).failed(format!("HTTP {}", response.status()));
        }
        let stream = lock(&self.tally).connected();
        let reason = read_body(response.into_body(), &self.tally, stream, watch).await;
        lock(&self.tally).ended(reason);
    }

    /// `GET path` with its response read whole and the connection ready for the next
    /// request: the stream that follows is the connection's second request, not its first.
    async fn warm_up(
        &self,
        sender: &mut SendRequest<Empty<Bytes>>,
        path: &PathAndQuery,
    ) -> Result<(), String> {
        let exchange = async {
            let request = get(&self.target, path.as_str()).header(ACCEPT, "*/*");
            let request = request.body(Empty::new()).map_err(|err| format!("warm-up: {err}"))?;
            let response =
                sender.send_request(request).await.map_err(|err| format!("warm-up: {err}"))?;
            let status = response.status();
            response.into_body().collect().await.map_err(|err| format!("warm-up body: {err}"))?;
            if !status.is_success() {
                return Err(format!("warm-up GET {path}: HTTP {status}"));
            }
            sender.ready().await.map_err(|err| format!("connection after the warm-up: {err}"))
        };
        tokio::time::timeout(self.patience, exchange)
            .await
            .unwrap_or_else(|_| Err("no warm-up response within --connect-timeout-secs".into()))
    }
}

type Connection = http1::Connection<TokioIo<tokio::net::TcpStream>, Empty<Bytes>>;

/// A TCP connection from `source` to the target, ready for one HTTP/1.1 request.
async fn handshake(
    target: &Target,
    source: Ipv4Addr,
) -> Result<(SendRequest<Empty<Bytes>>, Connection), String> {
    let socket = TcpSocket::new_v4().map_err(|err| format!("socket: {err}"))?;
    socket
        .bind(SocketAddr::new(source.into(), 0))
        .map_err(|err| format!("bind {source}: {err}"))?;
    let stream =
        socket.connect(target.addr.into()).await.map_err(|err| format!("connect: {err}"))?;
    http1::handshake(TokioIo::new(stream)).await.map_err(|err| format!("handshake: {err}"))
}

/// `GET path` on the target's server.
fn get(target: &Target, path: &str) -> http::request::Builder {
    http::Request::get(path).header(HOST, target.host_header())
}

/// `GET` of the target's path as an `EventSource` sends it, resuming after `last_event_id`.
fn stream_request(target: &Target, last_event_id: Option<&str>) -> http::Request<Empty<Bytes>> {
    let mut request = get(target, target.path.as_str()).header(ACCEPT, "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.body(Empty::new()).expect("a GET with a checked path and event ids is a valid request")
}

/// Feeds the body of `stream` to an SSE parser as it arrives; returns why it ended.
async fn read_body(
    mut body: Incoming,
    tally: &Mutex<Tally>,
    stream: StreamNo,
    watch: &mut impl FnMut(&Item<'_>),
) -> String {
    let mut parser = Parser::default();
    loop {
        match body.frame().await {
            None => return "the server ended the stream".into(),
            Some(Err(err)) => return format!("stream: {err}"),
            Some(Ok(frame)) => {
                let Some(data) = frame.data_ref() else { continue };
                let received = SystemTime::now();
                let mut tally = lock(tally);
                parser.feed(data, |item| {
                    watch(&item);
                    tally.record(item, received, stream);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    const HEALTHY: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    const MISSING: &str = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
    /// One event, then the end of the body.
    const STREAM: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 24\r\n\r\nid: 7-1\ndata: {\"a\":1}\n\n";

    /// A server that accepts one connection only and answers its requests, one after the
    /// other, with `answers`; returns the request lines it read on that connection.
    async fn one_connection(
        answers: &'static [&'static str],
    ) -> (SocketAddrV4, JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let std::net::SocketAddr::V4(addr) = listener.local_addr().unwrap() else { unreachable!() };
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut lines = Vec::new();
            let mut read = Vec::new();
            for answer in answers {
                while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut chunk = [0; 1024];
                    match socket.read(&mut chunk).await.unwrap() {
                        0 => return lines,
                        n => read.extend_from_slice(&chunk[..n]),
                    }
                }
                let end = read.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                let head = String::from_utf8(read.drain(..end).collect()).unwrap();
                lines.push(head.lines().next().unwrap().to_owned());
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
            lines
        });
        (addr, served)
    }

    /// Runs one subscriber of `/sse` at `addr`, warming up with `GET /healthz` if asked.
    async fn subscribe(addr: SocketAddrV4, warm_up: bool) -> super::super::tally::Summary {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let subscriber = Subscriber {
            target: Arc::new(Target { addr, path: "/sse".into() }),
            tally: tally.clone(),
            source: Ipv4Addr::LOCALHOST,
            resume_from: None,
            patience: Duration::from_secs(10),
            warm_up: warm_up.then(|| PathAndQuery::from_static("/healthz")),
        };
        subscriber.run(|_| {}).await;
        lock(&tally).summary()
    }

    #[tokio::test]
    async fn the_stream_is_requested_on_the_connection_that_served_the_warm_up() {
        let (addr, served) = one_connection(&[HEALTHY, STREAM]).await;
        let summary = subscribe(addr, true).await;
        assert_eq!(served.await.unwrap(), ["GET /healthz HTTP/1.1", "GET /sse HTTP/1.1"]);
        assert_eq!((summary.connected, summary.failed, summary.data_events_received), (1, 0, 1));
    }

    #[tokio::test]
    async fn without_a_warm_up_the_stream_is_the_first_request() {
        let (addr, served) = one_connection(&[STREAM]).await;
        let summary = subscribe(addr, false).await;
        assert_eq!(served.await.unwrap(), ["GET /sse HTTP/1.1"]);
        assert_eq!((summary.connected, summary.data_events_received), (1, 1));
    }

    #[tokio::test]
    async fn a_failed_warm_up_fails_the_subscriber_without_asking_for_the_stream() {
        let (addr, served) = one_connection(&[MISSING, STREAM]).await;
        let summary = subscribe(addr, true).await;
        assert_eq!(served.await.unwrap(), ["GET /healthz HTTP/1.1"]);
        assert_eq!((summary.connected, summary.failed), (0, 1));
        let reason = summary.reasons.keys().next().unwrap();
        assert!(reason.contains("warm-up GET /healthz: HTTP 404"), "{reason}");
    }
}
