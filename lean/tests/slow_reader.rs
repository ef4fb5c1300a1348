//! A subscriber that reads slower than its stream, whatever its TCP window, costs the server
//! a bounded number of bytes (the invariant of `kernel_buffers`: twice [`SEND_BUFFER`] in the
//! kernel, the rest of one write in user space), and is dropped and counted once its socket
//! takes nothing for the stall timeout: whether the lean writers write its stream, or hyper
//! does (after `Connection: close`, or a handler's own event-stream response).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use prometheus_client::registry::Registry;
use sse_hub::{Delivery, Hub, StreamOptions};
use sse_lean::{Lean, Options, Reply, SEND_BUFFER, StreamMetrics};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// An event of about a kilobyte every 5 ms: 200 KB/s, far more than the reader takes.
const EVENT_BYTES: usize = 1000;
const INTERVAL: Duration = Duration::from_millis(5);
/// Bounds every wait of the test; never a speed assertion.
const PATIENCE: Duration = Duration::from_secs(30);

/// A server whose hub publishes [`EVENT_BYTES`] every [`INTERVAL`]; stopped when dropped.
struct Server {
    addr: SocketAddr,
    hub: Hub<String>,
    metrics: StreamMetrics,
    publisher: JoinHandle<()>,
    _stop: oneshot::Sender<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.publisher.abort();
    }
}

async fn sse(State(hub): State<Hub<String>>, reply: Reply) -> Response {
    reply.stream(delivery(&hub), ())
}

/// A handler's own event stream, which hyper writes on a clean connection.
async fn own_sse(State(hub): State<Hub<String>>) -> Response {
    sse_hub::sse_response(delivery(&hub).into_body())
}

fn delivery(hub: &Hub<String>) -> Delivery {
    let options = StreamOptions {
        retry: Duration::from_secs(1),
        heartbeat: Duration::from_secs(15),
        limit: None,
        stop: Default::default(),
    };
    hub.subscribe(None).unwrap().into_delivery(options)
}

async fn start() -> Server {
    let size = |n| NonZeroUsize::new(n).unwrap();
    let hub: Hub<String> = Hub::new(size(1024), size(64));
    let router =
        Router::new().route("/sse", get(sse)).route("/own", get(own_sse)).with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lean = Lean::new(Options { stall_timeout: STALL_TIMEOUT, ..Options::default() });
    let metrics = lean.metrics().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    tokio::spawn(lean.serve(listener, router).with_graceful_shutdown(shutdown).into_future());
    let publishing = hub.clone();
    let publisher = tokio::spawn(async move {
        loop {
            publishing.publish(|index| format!("{index:0>width$}", width = EVENT_BYTES));
            tokio::time::sleep(INTERVAL).await;
        }
    });
    Server { addr, hub, metrics, publisher, _stop: stop }
}

/// `connections_stalled_total`, as an operator reads it.
fn stalled(metrics: &StreamMetrics) -> u64 {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let line = text.lines().find(|line| line.starts_with("connections_stalled_total ")).unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_slower_than_its_lean_stream_is_dropped_and_counted_within_the_bound() {
    slow_reader_is_dropped_within_the_bound(b"GET /sse HTTP/1.1\r\nHost: x\r\n\r\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_slower_than_a_stream_hyper_writes_is_dropped_and_counted_within_the_bound() {
    let close = b"GET /sse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    slow_reader_is_dropped_within_the_bound(close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_slower_than_a_handlers_own_stream_is_dropped_and_counted_within_the_bound() {
    slow_reader_is_dropped_within_the_bound(b"GET /own HTTP/1.1\r\nHost: x\r\n\r\n").await;
}

async fn slow_reader_is_dropped_within_the_bound(request: &[u8]) {
    let server = start().await;
    // A tiny window, as `slowhttptest -X` advertises, and 16 bytes read every 50 ms.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let receive_buffer = socket.recv_buffer_size().unwrap() as u64;
    let mut tcp = socket.connect(server.addr).await.unwrap();
    tcp.write_all(request).await.unwrap();

    let started = Instant::now();
    let (mut read, mut most_behind) = (0u64, 0u64);
    let ended = loop {
        assert!(started.elapsed() < PATIENCE, "still connected after {PATIENCE:?}");
        let mut piece = [0; 16];
        match tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut piece)).await {
            Ok(Ok(0) | Err(_)) => break started.elapsed(),
            Ok(Ok(n)) => read += n as u64,
            Err(_) => {}
        }
        // Handed to the stream and not yet read here: what waits in the server (and in
        // this socket's small receive buffer).
        let behind = server.hub.metrics().delivered_bytes.get().saturating_sub(read);
        most_behind = most_behind.max(behind);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The kernel's share, one chunk in user space (an event and its `retry:`), and what
    // this socket's own receive buffer holds.
    let bound = 2 * SEND_BUFFER as u64 + 2 * EVENT_BYTES as u64 + receive_buffer;
    eprintln!("{most_behind} bytes behind at most (bound {bound}), dropped after {ended:?}");
    assert!(most_behind <= bound, "{most_behind} bytes behind, over {bound}");
    // The socket fills within the bound at 200 KB/s, then takes nothing for the stall timeout;
    // the slack is for a loaded machine, where the publisher and the reader run late.
    let fill = Duration::from_secs_f64(bound as f64 / 200_000.0);
    let slack = Duration::from_secs(5);
    assert!(ended <= fill + STALL_TIMEOUT + slack, "dropped after {ended:?}");
    assert_eq!(stalled(&server.metrics), 1, "counted as stalled");
}
