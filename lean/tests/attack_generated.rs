//! A generated attack on the connection layer, checked against its bounds (the rules of
//! `sse_lean`'s `limits` module) rather than against an expected answer.
//!
//! proptest draws a crowd of idle connections (silent, an HTTP/2 preface, or idle in hyper
//! after a request that is not clean), big enough to run the process out of files, and a
//! few attackers, each a random interleaving of clean and odd heads, bodies, pipelines,
//! heads near and past the byte budget, floods, HTTP/2 prefaces, `CONNECT`, pauses,
//! half-closes and resets. A legitimate client comes at a random moment. Against one
//! server with short limits, every case must keep these:
//!
//! - **budget**: no connection ever held more than `BUFFER_BUDGET` bytes in user space
//!   (the server's `most_buffered` metric);
//! - **deadlines**: every connection the clients leave open is closed by the server within
//!   its deadlines (what its requests take, plus the head and idle timeouts, plus
//!   [`LATE`] for this shared machine);
//! - **liveness**: the legitimate client is answered within the head timeout (plus
//!   [`LATE`]), whatever the crowd holds;
//! - **no panic**, in any task.
//!
//! `make test` runs [`CASES`] cases; `make fuzz` runs more (`LEAN_ATTACK_CASES`). A
//! failure prints the smallest case found. Alone in its binary: it lowers this process's
//! open-files limit.

mod support;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sse_lean::{BUFFER_BUDGET, Options};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::{panics, read_until_closed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// Cases in `make test`; `LEAN_ATTACK_CASES` overrides it.
const CASES: u32 = 24;
const HEAD_TIMEOUT: Duration = Duration::from_millis(500);
const IDLE_TIMEOUT: Duration = Duration::from_millis(700);
/// How late a deadline may be seen on this shared, noisy machine.
const LATE: Duration = Duration::from_millis(1500);
/// What the requests of one attacker may take at most: a few streams of 3 events, 50 ms apart.
const REQUESTS: Duration = Duration::from_millis(1500);
/// Files this process may open beyond those it holds when the test starts: a crowd of 40
/// connections (two files each, one per side) is more than that.
const ROOM: u64 = 64;

/// One thing an attacker does.
#[derive(Clone, Debug)]
enum Act {
    Send(Piece),
    Pause(u64),
    HalfClose,
    /// Closes with a reset, and plays no more.
    Reset,
}

/// Bytes an attacker sends, readable in a failing case.
#[derive(Clone, Debug)]
enum Piece {
    Text(&'static str),
    /// A head's start with an `X-Pad` of this many bytes and no end yet.
    PaddedHead(usize),
    /// This many `X`.
    Flood(usize),
    Preface(&'static [u8]),
}

impl Piece {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Piece::Text(text) => text.as_bytes().to_vec(),
            Piece::PaddedHead(pad) => {
                format!("GET /text HTTP/1.1\r\nHost: x\r\nX-Pad: {}", "a".repeat(*pad)).into()
            }
            Piece::Flood(len) => vec![b'X'; *len],
            Piece::Preface(bytes) => bytes.to_vec(),
        }
    }
}

const TEXTS: [&str; 14] = [
    "GET /text HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /sse?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /sse?limit=3 HTTP/1.1\r\nHost: x\r\n\r\n",
    "HEAD /text HTTP/1.1\r\n\r\n",
    "GET /text HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    "POST /text HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET /sse?limit=2 HTTP/1.1\r\nConnection: close\r\n\r\n",
    "GET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET /text HTTP/1.1\r\nHo",
    "\r\n\r\n",
    "CONNECT /tunnel HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /sse HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    "NOT HTTP\r\n\r\n",
    "\x00\x01\x02\x7f\r\n\r\n",
];
const PREFACES: [&[u8]; 3] = [
    b"PRI * HTTP/2",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
];
/// Pads around the byte budget and hyper's own limit.
const PADS: [usize; 6] = [1 << 10, 30 << 10, (64 << 10) - 100, 64 << 10, 70 << 10, 500 << 10];

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        8 => select(TEXTS.as_slice()).prop_map(Piece::Text),
        2 => select(PADS.as_slice()).prop_map(Piece::PaddedHead),
        1 => (1usize..200_000).prop_map(Piece::Flood),
        2 => select(PREFACES.as_slice()).prop_map(Piece::Preface),
    ]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => piece().prop_map(Act::Send),
        3 => (0u64..250).prop_map(Act::Pause),
        1 => Just(Act::HalfClose),
        1 => Just(Act::Reset),
    ]
}

/// An attacker: whether it reads what the server sends, and what it does.
#[derive(Clone, Debug)]
struct Attacker {
    reads: bool,
    acts: Vec<Act>,
}

/// What each connection of the crowd sends, then it stays idle.
const CROWD_KINDS: [&[u8]; 3] = [
    b"",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /text HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
];

#[derive(Clone, Debug)]
struct Attack {
    crowd: (usize, &'static [u8]),
    attackers: Vec<Attacker>,
    /// When the legitimate client comes, in ms after the crowd.
    client_after: u64,
}

fn attack() -> impl Strategy<Value = Attack> {
    let attacker = (any::<bool>(), proptest::collection::vec(act(), 1..6))
        .prop_map(|(reads, acts)| Attacker { reads, acts });
    let crowd = (prop_oneof![2 => Just(0usize), 1 => 1usize..40], select(CROWD_KINDS.as_slice()));
    (crowd, proptest::collection::vec(attacker, 1..4), 0u64..600)
        .prop_map(|(crowd, attackers, client_after)| Attack { crowd, attackers, client_after })
}

#[test]
fn no_attack_breaks_the_budget_the_deadlines_or_a_clients_turn() {
    let cases = std::env::var("LEAN_ATTACK_CASES").ok().and_then(|cases| cases.parse().ok());
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let options = Options {
        head_timeout: HEAD_TIMEOUT,
        idle_timeout: IDLE_TIMEOUT,
        stall_timeout: Duration::from_secs(1),
    };
    let server = runtime.block_on(support::start(options));
    let panicked = panics().load(Ordering::SeqCst);
    let open = open_files();
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, open + ROOM, limit.1).unwrap();
    let config = Config {
        cases: cases.unwrap_or(CASES),
        max_shrink_iters: 32,
        failure_persistence: None,
        ..Config::default()
    };
    let result = TestRunner::new(config).run(&attack(), |attack| {
        runtime.block_on(async {
            play(&attack, server.addr).await.map_err(TestCaseError::fail)?;
            let most = server.metrics.most_buffered();
            prop_assert!(most <= BUFFER_BUDGET, "a connection held {most} bytes");
            prop_assert_eq!(panics().load(Ordering::SeqCst), panicked, "a panic");
            // Every file of this case is closed before the next one.
            let settled = Instant::now() + LATE;
            while open_files() > open && Instant::now() < settled {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(())
        })
    });
    rlimit::setrlimit(rlimit::Resource::NOFILE, limit.0, limit.1).unwrap();
    runtime.block_on(server.stop());
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// Plays `attack`, checking the deadlines and the client's turn.
async fn play(attack: &Attack, addr: SocketAddr) -> Result<(), String> {
    // Every socket this case needs beyond the crowd is made before the files run out.
    let client = TcpSocket::new_v4().map_err(|err| format!("a socket: {err}"))?;
    let mut sockets = Vec::new();
    for _ in &attack.attackers {
        sockets.push(TcpSocket::new_v4().map_err(|err| format!("a socket: {err}"))?);
    }
    let (count, sent) = attack.crowd;
    let mut crowd = Vec::new();
    for _ in 0..count {
        // Out of files here too: the crowd is as big as it gets.
        let Ok(Ok(mut tcp)) = tokio::time::timeout(LATE, TcpStream::connect(addr)).await else {
            break;
        };
        let _ = tcp.write_all(sent).await;
        let bound = 2 * (HEAD_TIMEOUT + IDLE_TIMEOUT);
        crowd.push(tokio::spawn(async move { closed_within(&mut tcp, bound).await }));
    }
    let attackers: Vec<_> = attack
        .attackers
        .iter()
        .cloned()
        .zip(sockets)
        .map(|(attacker, socket)| tokio::spawn(run(attacker, socket, addr)))
        .collect();
    tokio::time::sleep(Duration::from_millis(attack.client_after)).await;
    legitimate(client, addr).await?;
    for each in crowd.into_iter().chain(attackers) {
        each.await.map_err(|err| format!("a client task: {err}"))??;
    }
    Ok(())
}

/// The legitimate client: asks for `/text` at once, and must be answered in time.
async fn legitimate(client: TcpSocket, addr: SocketAddr) -> Result<(), String> {
    let started = Instant::now();
    let served = tokio::time::timeout(HEAD_TIMEOUT + LATE, async {
        let mut tcp = client.connect(addr).await.ok()?;
        tcp.write_all(b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n").await.ok()?;
        let mut answer = Vec::new();
        let mut buf = [0; 1024];
        while !answer.ends_with(b"hello") {
            let n = tcp.read(&mut buf).await.ok().filter(|n| *n > 0)?;
            answer.extend_from_slice(&buf[..n]);
        }
        Some(())
    });
    match served.await {
        Ok(Some(())) => Ok(()),
        _ => Err(format!("the legitimate client was not served ({:?})", started.elapsed())),
    }
}

/// Plays one attacker; then, unless it reset, the server must close its connection within
/// what its requests take and its deadlines.
async fn run(attacker: Attacker, socket: TcpSocket, addr: SocketAddr) -> Result<(), String> {
    let Ok(tcp) = socket.connect(addr).await else { return Ok(()) };
    let (reader, mut writer) = tcp.into_split();
    let reading = match attacker.reads {
        true => Ok(tokio::spawn(read_to_end(reader))),
        false => Err(reader),
    };
    for act in &attacker.acts {
        match act {
            Act::Send(piece) => {
                let _ = writer.write_all(&piece.bytes()).await;
            }
            Act::Pause(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
            Act::HalfClose => {
                let _ = writer.shutdown().await;
            }
            Act::Reset => {
                let _ = socket2::SockRef::from(writer.as_ref()).set_linger(Some(Duration::ZERO));
                if let Ok(reading) = reading {
                    reading.abort();
                }
                return Ok(());
            }
        }
    }
    let bound = REQUESTS + HEAD_TIMEOUT + IDLE_TIMEOUT;
    // One that did not read reads now.
    let reading = reading.unwrap_or_else(|reader| tokio::spawn(read_to_end(reader)));
    let closed = tokio::time::timeout(bound + LATE, reading).await.is_ok();
    match closed {
        true => Ok(()),
        false => Err(format!("a connection outlived {bound:?} after its last act: {attacker:?}")),
    }
}

/// Reads until the server closes the connection (or resets it).
async fn read_to_end(mut reader: OwnedReadHalf) {
    let mut buf = vec![0; 64 * 1024];
    while matches!(reader.read(&mut buf).await, Ok(1..)) {}
}

/// Reads what `tcp` gets until the server closes it, which it must within `bound` (and
/// [`LATE`]).
async fn closed_within(tcp: &mut TcpStream, bound: Duration) -> Result<(), String> {
    match read_until_closed(tcp, bound + LATE).await {
        Some(_) => Ok(()),
        None => Err(format!("an idle connection of the crowd outlived {bound:?}")),
    }
}

/// The files this process holds.
fn open_files() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |files| files.count() as u64)
}
