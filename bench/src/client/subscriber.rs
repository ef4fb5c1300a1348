//! One subscriber from connect to the end of its stream: a TCP connection from its own
//! loopback source address, `GET` as an `EventSource` sends it (with `Last-Event-ID` when it
//! resumes), and the body fed to the SSE parser as it arrives, every item counted in the
//! run's tally.

use super::lock;
use super::sse::{Item, Parser};
use super::tally::Tally;
use super::target::Target;
use bytes::Bytes;
use http::header::{ACCEPT, HOST};
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

    /// Sends `GET`, and on `200` reads the stream until it ends.
    async fn read_stream(
        &self,
        mut sender: SendRequest<Empty<Bytes>>,
        watch: &mut impl FnMut(&Item<'_>),
    ) {
        let request = request(&self.target, self.resume_from());
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
        lock(&self.tally).connected();
        let reason = read_body(response.into_body(), &self.tally, watch).await;
        lock(&self.tally).ended(reason);
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

/// `GET` of the target's path as an `EventSource` sends it, resuming after `last_event_id`.
fn request(target: &Target, last_event_id: Option<&str>) -> http::Request<Empty<Bytes>> {
    let mut request = http::Request::get(target.path.as_str())
        .header(HOST, target.host_header())
        .header(ACCEPT, "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.body(Empty::new()).expect("a GET with a checked path and event ids is a valid request")
}

/// Feeds the body to an SSE parser as it arrives; returns why it ended.
async fn read_body(
    mut body: Incoming,
    tally: &Mutex<Tally>,
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
                    tally.record(item, received);
                });
            }
        }
    }
}
