//! Out of files, the connection layer closes the connection that has waited longest for a
//! request head, so silent and half-open connections cannot keep a new client out. One test
//! alone in its binary: it lowers this process's open-files limit.

use axum::Router;
use axum::routing::get;
use sse_hub::Hub;
use sse_lean::{Lean, Options};
use std::num::NonZeroUsize;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Files this process may open beyond those it holds when the test starts.
const ROOM: u64 = 300;
/// Bounds every wait; the head timeout is far longer, so only shedding can let a client in.
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_gets_in_when_silent_connections_hold_every_file() {
    let size = |n| NonZeroUsize::new(n).unwrap();
    let hub: Hub<String> = Hub::new(size(16), size(16));
    let router = Router::new().route("/text", get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = Options { head_timeout: Duration::from_secs(120), ..Options::default() };
    let shutdown = std::future::pending();
    tokio::spawn(Lean::new(options).serve(listener, router, hub.doorbell(), shutdown));
    // The client's socket is made before the files run out.
    let client = TcpSocket::new_v4().unwrap();
    lower_open_files_limit();

    // Silent connections until no file is left: each takes one here and one in the server.
    let mut silent = Vec::new();
    while let Ok(Ok(tcp)) = tokio::time::timeout(PATIENCE, TcpStream::connect(addr)).await {
        silent.push(tcp);
        assert!(silent.len() < 10 * ROOM as usize, "the limit was never reached");
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // the server accepts what it can

    let mut tcp = client.connect(addr).await.unwrap();
    tcp.write_all(b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(PATIENCE, tcp.read(&mut answer)).await;
    let n = read.expect("served although silent connections held every file").unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("hello"), "{answer}");
    // The one shed is among the oldest: the first silent connection was closed.
    let mut first = [0; 1];
    let closed = tokio::time::timeout(PATIENCE, silent[0].read(&mut first)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "the oldest silent connection was closed");
}

/// Sets this process's soft limit on open files to what it holds now plus [`ROOM`].
fn lower_open_files_limit() {
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = open + ROOM;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}
