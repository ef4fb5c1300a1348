//! The common case as a stranger writes it, on a real server: `Reply::subscribe` with a
//! `LastEventId`, `StreamOptions::default()`, any number of hubs behind one `Lean`, and
//! `with_graceful_shutdown` ending every open stream with no token to plumb.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sse_lean::{Hub, LastEventId, Lean, Reply, StreamOptions};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bounds every wait. The heartbeat is far longer, so only a wake-up by the hub's own
/// event can deliver within it.
const PATIENCE: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(600);

type Hubs = Vec<Hub<String>>;

async fn events(
    State(hubs): State<Hubs>,
    Path(hub): Path<usize>,
    last: LastEventId,
    reply: Reply,
) -> Response {
    reply.subscribe(&hubs[hub], last, StreamOptions::default().heartbeat(HEARTBEAT))
}

struct Server {
    addr: SocketAddr,
    hubs: Hubs,
    shutdown: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
}

async fn start(hubs: usize) -> Server {
    let hubs: Hubs = (0..hubs).map(|_| Hub::default()).collect();
    let router = Router::new().route("/events/{hub}", get(events)).with_state(hubs.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, signal) = oneshot::channel::<()>();
    let signal = async {
        let _ = signal.await;
    };
    let served = Lean::default().serve(listener, router).with_graceful_shutdown(signal);
    Server { addr, hubs, shutdown, served: tokio::spawn(served.into_future()) }
}

/// A client that sent `request` and reads what comes.
struct Client {
    tcp: TcpStream,
    read: String,
}

impl Client {
    async fn send(addr: SocketAddr, request: String) -> Self {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        Self { tcp, read: String::new() }
    }

    /// Reads until what came holds `wanted`; panics at the end of the connection or after
    /// [`PATIENCE`].
    async fn until(&mut self, wanted: &str) {
        let started = tokio::time::Instant::now();
        while !self.read.contains(wanted) {
            let mut piece = [0; 4096];
            let left = PATIENCE.saturating_sub(started.elapsed());
            let n = tokio::time::timeout(left, self.tcp.read(&mut piece))
                .await
                .unwrap_or_else(|_| panic!("{wanted:?} not within {PATIENCE:?}: {:?}", self.read))
                .unwrap();
            assert!(n > 0, "closed before {wanted:?}: {:?}", self.read);
            self.read.push_str(&String::from_utf8_lossy(&piece[..n]));
        }
    }

    /// Reads to the end of the connection, within [`PATIENCE`].
    async fn read_to_end(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(PATIENCE, self.tcp.read_to_end(&mut rest))
            .await
            .unwrap_or_else(|_| panic!("still open after {PATIENCE:?}: {:?}", self.read))
            .unwrap();
        self.read.push_str(&String::from_utf8_lossy(&rest));
    }
}

fn request(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hub_behind_one_server_delivers_its_events_at_once() {
    let server = start(50).await;
    let mut clients = Vec::new();
    for hub in 0..server.hubs.len() {
        // Lean streams, and every fifth one written by hyper.
        let extra = if hub % 5 == 0 { "Connection: close\r\n" } else { "" };
        clients.push(Client::send(server.addr, request(&format!("/events/{hub}"), extra)).await);
    }
    for client in &mut clients {
        client.until("200 OK").await;
    }
    for (hub, client) in server.hubs.iter().zip(&mut clients).rev() {
        let id = hub.publish(|_| "news".to_owned());
        client.until(&format!("id: {id}\n")).await;
    }
    server.shutdown.send(()).unwrap();
    server.served.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_after_its_last_event_id_from_the_header_or_the_query() {
    let server = start(1).await;
    let hub = &server.hubs[0];
    let ids: Vec<_> = (0..4).map(|n| hub.publish(|_| format!("event {n}"))).collect();
    for extra_or_query in [
        (format!("Last-Event-ID: {}\r\n", ids[1]), String::new()),
        (String::new(), format!("?lastEventId={}", ids[1])),
    ] {
        let (extra, query) = extra_or_query;
        let mut client =
            Client::send(server.addr, request(&format!("/events/0{query}"), &extra)).await;
        client.until(&format!("id: {}\n", ids[3])).await;
        assert!(client.read.contains(&format!("id: {}\n", ids[2])), "{}", client.read);
        assert!(!client.read.contains(&format!("id: {}\n", ids[1])), "{}", client.read);
        assert_eq!(client.read.matches("retry: 3000\n").count(), 1, "retry: once: {}", client.read);
    }
    hub.close("over");
    let mut after = Client::send(server.addr, request("/events/0", "Connection: close\r\n")).await;
    after.read_to_end().await;
    assert!(after.read.starts_with("HTTP/1.1 204 No Content\r\n"), "{}", after.read);
    server.shutdown.send(()).unwrap();
    server.served.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_every_open_stream_lean_or_hyper() {
    let server = start(1).await;
    server.hubs[0].publish(|_| "first".to_owned());
    let requests = [
        request("/events/0", ""),                      // lean
        request("/events/0", "Connection: close\r\n"), // hyper, chunked
        "GET /events/0 HTTP/1.0\r\n\r\n".to_owned(),   // hyper, to the end of the connection
    ];
    let mut clients = Vec::new();
    for request in requests {
        let mut client = Client::send(server.addr, request).await;
        client.until("data: first\n\n").await;
        clients.push(client);
    }
    server.shutdown.send(()).unwrap();
    tokio::time::timeout(PATIENCE, server.served)
        .await
        .expect("the server returns once its streams ended")
        .unwrap()
        .unwrap();
    for client in &mut clients {
        client.read_to_end().await;
    }
    assert!(clients[0].read.ends_with("\r\n0\r\n\r\n"), "the last chunk: {}", clients[0].read);
    assert!(clients[1].read.ends_with("\r\n0\r\n\r\n"), "the last chunk: {}", clients[1].read);
}

/// Crowds of lean streams over a few hubs come and mostly go (so the writers regroup their
/// streams by hub and compact them) while random hubs publish: every open stream gets each
/// event of its hub well before any heartbeat. Seeded: a failure prints its seed, and
/// `LEAN_CHURN_SEED=<seed>` runs the same schedule again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_that_come_and_go_miss_no_event_of_their_hub() {
    let seed = std::env::var("LEAN_CHURN_SEED")
        .map_or_else(|_| rand::random(), |seed| seed.parse().expect("LEAN_CHURN_SEED is a number"));
    eprintln!("churn seed {seed}: rerun with LEAN_CHURN_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let server = start(3).await;
    let mut open: Vec<(usize, Client)> = Vec::new();
    for _round in 0..10 {
        for _ in 0..rng.random_range(8..40) {
            let hub = rng.random_range(0..server.hubs.len());
            let mut client =
                Client::send(server.addr, request(&format!("/events/{hub}"), "")).await;
            client.until("200 OK").await;
            open.push((hub, client));
        }
        for _ in 0..rng.random_range(1..6) {
            publish_and_expect(&server.hubs, rng.random_range(0..server.hubs.len()), &mut open)
                .await;
        }
        let keep = rng.random_range(0..=open.len().min(3));
        while open.len() > keep {
            drop(open.swap_remove(rng.random_range(0..open.len())));
        }
        // Time for the writers to see them leave, and compact.
        tokio::time::sleep(Duration::from_millis(20)).await;
        for _ in 0..rng.random_range(2..8) {
            publish_and_expect(&server.hubs, rng.random_range(0..server.hubs.len()), &mut open)
                .await;
        }
    }
    server.shutdown.send(()).unwrap();
    server.served.await.unwrap().unwrap();
}

/// Publishes on `hubs[hub]` and waits until every open stream of that hub has the event.
async fn publish_and_expect(hubs: &Hubs, hub: usize, open: &mut [(usize, Client)]) {
    let id = hubs[hub].publish(|index| format!("event {index}"));
    for (_, client) in open.iter_mut().filter(|(of, _)| *of == hub) {
        client.until(&format!("id: {id}\n")).await;
    }
}
