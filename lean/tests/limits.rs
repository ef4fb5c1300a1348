//! The connection layer's limits, against a real server on loopback: a request head has a
//! deadline however it trickles in, and a kept-alive connection an idle timeout, so silent
//! and half-open connections do not stay.

use axum::Router;
use axum::routing::get;
use sse_lean::{Lean, Options};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bounds every wait of these tests; never a speed assertion.
const PATIENCE: Duration = Duration::from_secs(10);

/// A server with short limits, stopped when dropped.
struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Server {
    let router = Router::new().route("/text", get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options =
        Options { head_timeout: HEAD_TIMEOUT, idle_timeout: IDLE_TIMEOUT, ..Options::default() };
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    tokio::spawn(
        Lean::new(options).serve(listener, router).with_graceful_shutdown(shutdown).into_future(),
    );
    Server { addr, _stop: stop }
}

/// Reads until the server closes the connection: what it sent, and when it closed.
async fn read_until_closed(tcp: &mut TcpStream) -> (String, Instant) {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut bytes));
    read.await.expect("the server closes the connection").ok();
    (String::from_utf8_lossy(&bytes).into_owned(), Instant::now())
}

const REQUEST: &[u8] = b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_head_timeout() {
    let server = start().await;
    let opened = Instant::now();
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let (answer, closed) = read_until_closed(&mut tcp).await;
    assert_eq!(answer, "", "no request, no answer");
    assert!(closed - opened >= HEAD_TIMEOUT, "closed after {:?}", closed - opened);
}

#[tokio::test]
async fn a_head_that_trickles_in_is_cut_at_its_deadline_not_per_read() {
    let server = start().await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = tcp.into_split();
    let opened = Instant::now();
    // One byte every 100 ms: each read is quick, the whole head would take 3 s.
    let trickle = tokio::spawn(async move {
        for byte in REQUEST {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut answer)).await;
    read.expect("the server closes the connection").ok();
    let closed = opened.elapsed();
    trickle.abort();
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let whole_head = Duration::from_millis(100) * REQUEST.len() as u32;
    assert!(closed >= HEAD_TIMEOUT && closed < whole_head, "closed after {closed:?}");
}

#[tokio::test]
async fn a_kept_alive_connection_serves_within_the_idle_timeout_and_closes_after_it() {
    let server = start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut answered = Instant::now();
    for _ in 0..2 {
        tcp.write_all(REQUEST).await.unwrap();
        let mut answer = vec![0; 1024];
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut answer)).await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("hello"), "{answer}");
        answered = Instant::now();
        // Longer than a head may take, shorter than the idle timeout: the connection stays.
        tokio::time::sleep(HEAD_TIMEOUT + Duration::from_millis(300)).await;
    }
    let (answer, closed) = read_until_closed(&mut tcp).await;
    assert_eq!(answer, "");
    // The server's clock started as it wrote the answer, a moment before it was read here.
    let idle = closed - answered;
    assert!(idle >= IDLE_TIMEOUT - Duration::from_millis(100), "closed after {idle:?} idle");
}

#[tokio::test]
async fn many_half_open_heads_do_not_keep_others_from_being_served() {
    let server = start().await;
    let mut half_open = Vec::new();
    for _ in 0..300 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /text HTTP/1.1\r\nHo").await.unwrap();
        half_open.push(tcp);
    }
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(REQUEST).await.unwrap();
    let mut answer = vec![0; 1024];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut answer)).await.unwrap().unwrap();
    assert!(answer[..n].ends_with(b"hello"));
    // And every half-open one is closed at its deadline.
    for tcp in &mut half_open {
        let (answer, _) = read_until_closed(tcp).await;
        assert_eq!(answer, "");
    }
}
