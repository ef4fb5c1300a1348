//! Out of files, the connection layer closes the connection that has waited longest without
//! a request in flight, whoever serves it, so that no kind of idle connection can keep a
//! new client out: silent ones, ones hyper's protocol sniff holds (an HTTP/2 preface), and
//! ones idle in hyper after a request that was not clean. One test alone in its binary: it
//! lowers this process's open-files limit.

use axum::Router;
use axum::routing::get;
use sse_lean::{Lean, Options};
use std::future::IntoFuture;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

/// Files this process may open beyond those it holds when the test starts.
const ROOM: u64 = 300;
/// Bounds every wait; the head and idle timeouts are far longer, so only shedding can let
/// a client in.
const PATIENCE: Duration = Duration::from_secs(10);
const REQUEST: &[u8] = b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n";

/// What each idle connection sends, and whether it reads an answer first.
const IDLE_KINDS: [(&str, &[u8], bool); 3] = [
    ("silent", b"", false),
    ("an HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false),
    ("idle in hyper", b"GET /text HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", true),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_gets_in_when_idle_connections_of_any_kind_hold_every_file() {
    let open = open_files();
    lower_open_files_limit(open);
    for (kind, sent, answered) in IDLE_KINDS {
        a_new_client_gets_in(kind, sent, answered).await;
        // Everything of this round is closed before the next.
        for _ in 0..100 {
            if open_files() <= open + 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn a_new_client_gets_in(kind: &str, sent: &[u8], answered: bool) {
    let router = Router::new().route("/text", get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let long = Duration::from_secs(120);
    let options = Options { head_timeout: long, idle_timeout: long, ..Options::default() };
    let stop = CancellationToken::new();
    let server = Lean::new(options)
        .serve(listener, router)
        .with_graceful_shutdown(stop.clone().cancelled_owned());
    let server = tokio::spawn(server.into_future());
    // The client's socket is made before the files run out.
    let client = TcpSocket::new_v4().unwrap();

    // Idle connections until the server runs out of files, which it shows by shedding the
    // oldest. Each takes a file here and one in the server: this process holds both sides,
    // so going on after that would only trade the server's files for this side's, until the
    // server held too few to shed any.
    let (mut idle, mut answered) = (Vec::<TcpStream>::new(), answered);
    while let Ok(Ok(mut tcp)) = tokio::time::timeout(PATIENCE, TcpStream::connect(addr)).await {
        tcp.write_all(sent).await.unwrap();
        // Answered until the server cannot accept any more.
        if answered {
            let mut answer = [0; 1024];
            let read = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut answer)).await;
            match read {
                Ok(Ok(n)) => assert!(answer[..n].ends_with(b"hello"), "{kind}: answered first"),
                _ => answered = false,
            }
        }
        idle.push(tcp);
        assert!(idle.len() < 10 * ROOM as usize, "{kind}: the limit was never reached");
        // Shed oldest first (`waiting.rs` tests the order).
        if closed_by_peer(&idle[0]) {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // the server accepts what it can

    let mut tcp = client.connect(addr).await.unwrap();
    tcp.write_all(REQUEST).await.unwrap();
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(PATIENCE, tcp.read(&mut answer)).await;
    let n = read.unwrap_or_else(|_| panic!("{kind}: not served")).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("hello"), "{kind}: {answer}");
    drop((idle, tcp));
    stop.cancel();
    let stopped = tokio::time::timeout(PATIENCE, server).await.expect("stops in time");
    stopped.expect("no panic").expect("serve returns Ok");
}

/// Whether the peer has closed `tcp`, reading (and dropping) what it sent before.
fn closed_by_peer(tcp: &TcpStream) -> bool {
    let mut buffer = [0; 1024];
    loop {
        match tcp.try_read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// The files this process holds.
fn open_files() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

/// Sets this process's soft limit on open files to `open` plus [`ROOM`].
fn lower_open_files_limit(open: u64) {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, open + ROOM, limit.1).unwrap();
}
