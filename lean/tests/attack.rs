//! The attacks of issue 18 on the connection layer, each as a client would send it, against
//! a real server on loopback with short limits (`support`). Each checks a bound of
//! `sse_lean::limits`: the byte budget, one deadline per state that no path restarts, and
//! that a stream runs to its end whatever its peer pipelines.

mod support;

use sse_lean::{BUFFER_BUDGET, Options};
use std::time::Duration;
use support::{PATIENCE, events_and_end, panics, read_until_closed, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How late a deadline may be seen on this shared machine; far less than any restarted one.
const LATE: Duration = Duration::from_millis(900);

fn options() -> Options {
    Options { head_timeout: HEAD_TIMEOUT, idle_timeout: IDLE_TIMEOUT, ..Options::default() }
}

/// A request for `target` with a `Host`, `extra` header lines, and a blank line.
fn get(target: &str, extra: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n")
}

/// Checks that a connection was closed `after` its deadline of `timeout` began, at the
/// deadline: not before it (the server's clock starts a moment before the client's), not
/// later than [`LATE`].
fn assert_at_deadline(after: Duration, timeout: Duration, what: &str) {
    let bound = timeout - Duration::from_millis(100)..timeout + LATE;
    assert!(bound.contains(&after), "{what}: closed after {after:?}, not at {timeout:?}");
}

/// Reads one response to a request answered with `hello` (content-length 5).
async fn read_hello(tcp: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    while !answer.ends_with(b"hello") {
        let read = tokio::time::timeout(PATIENCE, tcp.read(&mut buf)).await;
        let n = read.expect("an answer in time").expect("a read");
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Issue 18, 1: a head that grew the buffer to 64 KiB, then a stream's request with 69,000
/// bytes behind it in one write. The bytes behind the stream went to its writer beyond what
/// it expected: the release build read without end, a debug build's writer panicked and
/// every later stream on it got no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pipelined_behind_a_stream_stay_within_the_budget_and_every_writer_serves_on() {
    let panicked = panics().load(std::sync::atomic::Ordering::SeqCst);
    let server = start(options()).await;
    let mut attacker = TcpStream::connect(server.addr).await.unwrap();
    let pad = "a".repeat(64_800);
    let head = format!("GET /text HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}");
    attacker.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    attacker.write_all(b"\r\n\r\n").await.unwrap();
    read_hello(&mut attacker).await;
    let flood = get("/sse?limit=3", "") + &"X".repeat(69_000);
    attacker.write_all(flood.as_bytes()).await.unwrap();
    // And more while the stream runs, for its writer to read.
    tokio::time::sleep(Duration::from_millis(20)).await;
    // (On the old code, its writer had panicked and reset the connection by now.)
    let _ = attacker.write_all(&[b'X'; 8192]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // More streams than writers: each writer gets some, and every one is served.
    let mut streams = Vec::new();
    for _ in 0..8 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(get("/sse?limit=1", "").as_bytes()).await.unwrap();
        streams.push(tcp);
    }
    for tcp in &mut streams {
        let (answer, _) = read_until_closed(tcp, PATIENCE).await.expect("the stream ends");
        let (events, ended) = events_and_end(&answer);
        assert!(events == 1 && ended, "{}", String::from_utf8_lossy(&answer));
    }
    let (answer, _) = read_until_closed(&mut attacker, PATIENCE).await.expect("answered");
    let (events, ended) = events_and_end(&answer);
    assert!(
        events == 3 && ended,
        "the attacker's own stream: {}",
        String::from_utf8_lossy(&answer)
    );
    let most = server.metrics.most_buffered();
    assert!(most > 60_000 && most <= BUFFER_BUDGET, "{most} bytes held for one connection");
    assert_eq!(panics().load(std::sync::atomic::Ordering::SeqCst), panicked, "no panic");
    server.stop().await;
}

/// Issue 18, 2: an HTTP/2 preface (or its start, or it and an empty SETTINGS frame), then
/// nothing. hyper-util's protocol sniff and HTTP/2 have no timer of their own: such a
/// connection stayed open for good.
#[tokio::test]
async fn an_http2_preface_then_silence_is_closed_at_the_head_deadline() {
    let server = start(options()).await;
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    let settings = [preface.clone(), vec![0, 0, 0, 4, 0, 0, 0, 0, 0]].concat();
    for sent in [b"PRI * HTTP/2".to_vec(), preface, settings] {
        let opened = Instant::now();
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(&sent).await.unwrap();
        let closed = read_until_closed(&mut tcp, PATIENCE).await.map(|(_, at)| at - opened);
        let shown = String::from_utf8_lossy(&sent);
        let closed = closed.unwrap_or_else(|| panic!("{shown:?} still open after {PATIENCE:?}"));
        assert_at_deadline(closed, HEAD_TIMEOUT, &shown);
    }
    server.stop().await;
}

/// Issue 18, 5: a head that crosses the layer's 64 KiB just before its deadline goes to
/// hyper, whose header timer started again: it had twice the head timeout.
#[tokio::test]
async fn a_head_handed_to_hyper_keeps_its_deadline() {
    let server = start(options()).await;
    let opened = Instant::now();
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let start = format!("GET /text HTTP/1.1\r\nHost: x\r\nX-Pad: {}", "a".repeat(60 << 10));
    tcp.write_all(start.as_bytes()).await.unwrap();
    tokio::time::sleep(HEAD_TIMEOUT * 3 / 4).await;
    // Past the layer's limit, still no end of head: hyper's from here.
    tcp.write_all("a".repeat(8 << 10).as_bytes()).await.unwrap();
    let (mut reader, mut writer) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut answer)).await;
    let closed = opened.elapsed();
    trickle.abort();
    read.expect("closed in time").ok();
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(closed < HEAD_TIMEOUT + LATE, "closed after {closed:?}");
    server.stop().await;
}

/// Issue 18, 3 (its deadline; out_of_files.rs has its shedding): a request hyper serves
/// (`Content-Length: 0` is not clean), then nothing: hyper's side had the head timeout as
/// its idle time, and its own timer; now the connection's idle deadline holds there too.
#[tokio::test]
async fn a_connection_hyper_serves_is_closed_at_its_idle_deadline() {
    let server = start(options()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(get("/text", "Content-Length: 0\r\n").as_bytes()).await.unwrap();
    read_hello(&mut tcp).await;
    let answered = Instant::now();
    let (rest, closed) = read_until_closed(&mut tcp, PATIENCE).await.expect("closed in time");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert_at_deadline(closed - answered, IDLE_TIMEOUT, "idle in hyper");
    server.stop().await;
}

/// Issue 18, 4: a stream with a request pipelined behind it, then a half-close (SHUT_WR).
/// The writer read the request and the FIN together and took the peer for gone: one event,
/// then the connection closed mid-body. hyper sends all three, `close` and the last chunk.
#[tokio::test]
async fn a_half_close_behind_a_pipelined_request_does_not_cut_the_stream() {
    let server = start(options()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let pipelined = get("/sse?limit=3", "") + &get("/text", "");
    tcp.write_all(pipelined.as_bytes()).await.unwrap();
    tcp.shutdown().await.unwrap();
    let (answer, _) = read_until_closed(&mut tcp, PATIENCE).await.expect("closed in time");
    let (events, ended) = events_and_end(&answer);
    assert!(events == 3 && ended, "{}", String::from_utf8_lossy(&answer));
    server.stop().await;
}

/// Issue 18, 7: a `2xx` to `CONNECT` makes the connection a tunnel (hyper upgrades it):
/// what follows is not a request. The layer read on and answered it; `axum::serve` closes.
#[tokio::test]
async fn a_2xx_to_connect_ends_the_requests_on_its_connection() {
    let server = start(options()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let connect = "CONNECT /tunnel HTTP/1.1\r\nHost: x\r\n\r\n".to_owned() + &get("/text", "");
    tcp.write_all(connect.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut tcp, PATIENCE).await.expect("closed in time");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(!answer.contains("hello"), "a request read from the tunnel: {answer}");
    server.stop().await;
}
