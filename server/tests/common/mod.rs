//! Starts the real server on an ephemeral loopback port for one test, and reads its streams
//! with a real SSE client (`eventsource-stream` over `reqwest`).

use clap::Parser;
use eventsource_stream::{Event, EventStream, Eventsource};
use futures::{Stream, StreamExt};
use server::config::Config;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Long enough for any event a test waits for; only bounds a hang, never asserts speed.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A server of this test's own, stopped when dropped.
pub struct TestServer {
    base: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts the server with these extra flags (the address is always 127.0.0.1:0).
    pub async fn start(flags: &[&str]) -> Self {
        let args = ["livenames", "--addr", "127.0.0.1:0"].into_iter().chain(flags.iter().copied());
        let config = Config::try_parse_from(args).expect("test flags parse");
        let listener = tokio::net::TcpListener::bind(config.addr).await.expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, config, async {
            let _ = stopped.await;
        }));
        Self { base, shutdown: Some(shutdown), task: Some(task) }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// Asks the server to shut down and waits (bounded) until `serve` has returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("server stops with streams open")
            .expect("server task did not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// How a request reaches the server: the connection layer serves `/sse` on the lean writers
/// whether or not the request is the first on its connection, and leaves a connection to
/// hyper once a request on it has a body (or anything else it cannot take).
#[derive(Clone, Copy, Debug)]
pub enum Via {
    /// A new connection, whose first request it is: the lean writers.
    Fresh,
    /// A keep-alive connection that already carried a request: the lean writers too.
    KeepAlive,
    /// A keep-alive connection that carried a request with a body: hyper serves the rest.
    Fallback,
}

impl Via {
    /// The request sent first on the connection, if any: its method and body.
    pub fn warm_up(self) -> Option<(http::Method, &'static str)> {
        match self {
            Via::Fresh => None,
            Via::KeepAlive => Some((http::Method::GET, "")),
            Via::Fallback => Some((http::Method::POST, "x")),
        }
    }

    /// Who writes a stream opened this way, as `/metrics` labels it.
    #[allow(dead_code, reason = "tests/ops.rs does not look at the writers")]
    pub fn writer(self) -> &'static str {
        match self {
            Via::Fresh | Via::KeepAlive => "lean",
            Via::Fallback => "hyper",
        }
    }
}

/// Runs each of the named `async fn(Via)` tests every way, as `fresh::NAME`,
/// `keep_alive::NAME` and `fallback::NAME`.
#[macro_export]
macro_rules! on_every_path {
    ($($test:ident),* $(,)?) => {
        mod fresh {
            $(#[tokio::test] async fn $test() { super::$test($crate::common::Via::Fresh).await })*
        }
        mod keep_alive {
            $(#[tokio::test] async fn $test() { super::$test($crate::common::Via::KeepAlive).await })*
        }
        mod fallback {
            $(#[tokio::test] async fn $test() { super::$test($crate::common::Via::Fallback).await })*
        }
    };
}

/// An SSE stream opened with `GET` and optional extra headers.
#[allow(dead_code, reason = "tests/sse.rs uses only the _via forms")]
pub async fn open_stream(
    url: &str,
    headers: &[(&str, &str)],
) -> (reqwest::Response, EventStream<impl Stream<Item = reqwest::Result<bytes::Bytes>> + use<>>) {
    open_stream_via(Via::Fresh, url, headers).await
}

/// [`open_stream`], reaching the server `via` a new or a kept-alive connection.
pub async fn open_stream_via(
    via: Via,
    url: &str,
    headers: &[(&str, &str)],
) -> (reqwest::Response, EventStream<impl Stream<Item = reqwest::Result<bytes::Bytes>> + use<>>) {
    let response = get_via(via, url, headers).await;
    assert_eq!(response.status(), 200, "GET {url}");
    let head = clone_head(&response);
    (head, response.bytes_stream().eventsource())
}

/// A plain `GET` with extra headers, on a new connection.
#[allow(dead_code, reason = "tests/sse.rs uses only the _via forms")]
pub async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    get_via(Via::Fresh, url, headers).await
}

/// A plain `GET` with extra headers, `via` a new or a kept-alive connection.
pub async fn get_via(via: Via, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let client = reqwest::Client::new();
    if let Some((method, body)) = via.warm_up() {
        // Read whole, so the connection goes back to the pool and carries the next request.
        let mut health = reqwest::Url::parse(url).expect("a test URL");
        health.set_path("/healthz");
        health.set_query(None);
        let warm_up = client.request(method, health).body(body).send().await;
        warm_up.expect("request reaches the server").bytes().await.expect("healthz body");
    }
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request reaches the server")
}

/// The next event, or `None` once the server has ended the stream.
pub async fn next_event(
    events: &mut (impl Stream<Item = Result<Event, impl std::fmt::Debug>> + Unpin),
) -> Option<Event> {
    tokio::time::timeout(PATIENCE, events.next())
        .await
        .expect("an event or the end of the stream within PATIENCE")
        .map(|event| event.expect("well-formed SSE"))
}

/// `reqwest::Response` is consumed by `bytes_stream`; keep its status and headers.
fn clone_head(response: &reqwest::Response) -> reqwest::Response {
    let mut head = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        head = head.header(name, value);
    }
    head.body(Vec::<u8>::new()).unwrap().into()
}
