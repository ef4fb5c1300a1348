//! `sse-load load`: opens N subscribers to an SSE endpoint on loopback at a bounded rate,
//! lets them settle, then measures for a window: which subscribers got which event, the
//! publish-to-receive latency, and what the server's process spent (RSS, CPU) from `/proc`.
//!
//! The run ends by itself: its phases are bounded, and a watchdog thread exits the process
//! if they somehow are not (a server that hangs mid-handshake, say).

use crate::Error;
use crate::procfs::{self, Usage};
use crate::sse::{Item, Parser};
use crate::tally::{Summary, Tally};
use crate::target::{Target, source_addr};
use bytes::Bytes;
use http::header::{ACCEPT, HOST};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpSocket;
use tokio::task::JoinSet;

/// Open files kept for what is not a subscriber: stdio, the runtime, `/proc` reads.
pub(crate) const SPARE_FILES: u64 = 64;
/// How long the server may take to close its ends of the connections after they all left.
pub(crate) const LEAVE_PATIENCE: Duration = Duration::from_secs(60);
/// Open files a server may hold beyond its count before the run once all have left.
const FILES_SLACK: u64 = 4;
/// Extra time the watchdog allows past the planned end of the run.
pub(crate) const WATCHDOG_MARGIN: Duration = Duration::from_secs(30);

/// Flags of `sse-load load`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// The SSE endpoint, on loopback only, e.g. `http://127.0.0.1:3000/sse`.
    #[arg(long)]
    pub url: String,
    /// Subscribers to open.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub subscribers: u64,
    /// Seconds of the measuring window, which starts once every subscriber has connected.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration_secs: u64,
    /// New connections per second at most.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub ramp_per_sec: u64,
    /// Process id of the server, whose RSS and CPU time are read from `/proc/<pid>`.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Loopback source addresses to spread connections over: 127.0.0.1, 127.0.0.2, …
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=254))]
    pub source_addrs: u64,
    /// Seconds to wait after the last connection before measuring, and after closing them all
    /// before reading the server's RSS once more.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub settle_secs: u64,
    /// Seconds to keep reading after the window, for events published in it still on the way.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub drain_secs: u64,
    /// Seconds a subscriber may wait for its response head before it counts as failed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout_secs: u64,
    /// Worker threads of the tool's own runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub threads: u64,
}

impl Options {
    /// These options as `load` command-line arguments, for running it as a child process.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["load".to_owned(), "--url".to_owned(), self.url.clone()];
        let mut flag =
            |name: &str, value: u64| args.extend([format!("--{name}"), value.to_string()]);
        flag("subscribers", self.subscribers);
        flag("duration-secs", self.duration_secs);
        flag("ramp-per-sec", self.ramp_per_sec);
        flag("source-addrs", self.source_addrs);
        flag("settle-secs", self.settle_secs);
        flag("drain-secs", self.drain_secs);
        flag("connect-timeout-secs", self.connect_timeout_secs);
        flag("threads", self.threads);
        if let Some(pid) = self.server_pid {
            flag("server-pid", pid.into());
        }
        args
    }

    /// The longest the ramp can take: the pace, then the last connection's patience.
    fn ramp_limit(&self) -> Duration {
        Duration::from_secs(
            self.subscribers.div_ceil(self.ramp_per_sec) + self.connect_timeout_secs,
        )
    }

    /// When the watchdog ends the run: every phase at its longest, plus a margin.
    fn deadline(&self) -> Duration {
        // Settling twice: after connecting, and after leaving.
        let phases = 2 * self.settle_secs + self.duration_secs + self.drain_secs;
        self.ramp_limit() + Duration::from_secs(phases) + LEAVE_PATIENCE + WATCHDOG_MARGIN
    }
}

/// The run's result, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub subscribers_requested: u64,
    pub ramp_secs: f64,
    pub window_secs: f64,
    #[serde(flatten)]
    pub received: Summary,
    /// Deliveries of window events per second of the window.
    pub deliveries_per_sec: f64,
    pub server: Option<ServerCost>,
    pub load_tool: ToolCost,
}

/// What the server process spent, from `/proc/<pid>`.
#[derive(Debug, Serialize)]
pub struct ServerCost {
    pub pid: u32,
    pub rss_before_bytes: u64,
    /// After every subscriber connected and `--settle-secs` passed.
    pub rss_connected_bytes: u64,
    pub rss_after_window_bytes: u64,
    /// Open files before the run, once connected, and after leaving: shows whether the
    /// server had closed every connection when its RSS was read after leaving.
    pub open_files: [u64; 3],
    /// After every subscriber closed its connection and `--settle-secs` passed.
    pub rss_after_leaving_bytes: u64,
    /// The soak target asks for at most 1.10.
    pub rss_after_leaving_over_before: f64,
    /// RSS growth from before connecting to connected, per open stream.
    pub rss_growth_per_subscriber_bytes: Option<f64>,
    pub cpu_secs_in_window: f64,
    pub cpu_secs_per_million_deliveries: Option<f64>,
}

/// What this tool spent, so its own limits can be told apart from the server's.
#[derive(Debug, Serialize)]
pub struct ToolCost {
    pub threads: u64,
    /// From start to report, connecting included.
    pub cpu_secs: f64,
    /// In the measuring window only: reading and counting the deliveries.
    pub cpu_secs_in_window: f64,
    pub max_rss_bytes: u64,
}

/// Runs `load` to its end and returns the report; progress goes to stderr.
pub fn run(options: &Options) -> Result<Report, Error> {
    let target = Target::parse(&options.url)?;
    crate::open_files_for(options.subscribers + SPARE_FILES, "--subscribers")?;
    start_watchdog(options.deadline());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads as usize)
        .enable_all()
        .build()
        .map_err(|err| Error::Io(format!("starting the runtime: {err}")))?;
    let report = runtime.block_on(measure(Arc::new(target), options));
    // Closing thousands of sockets need not hold up the report.
    runtime.shutdown_background();
    report
}

/// Exits the process if the run is still going at `deadline`, whatever it is waiting for.
pub(crate) fn start_watchdog(deadline: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!("sse-load: watchdog: the run passed its deadline of {deadline:?}; exiting");
        std::process::exit(3);
    });
}

async fn measure(target: Arc<Target>, options: &Options) -> Result<Report, Error> {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let before = server_usage(options.server_pid)?;
    let ramp_started = Instant::now();
    let subscribers = ramp(&target, options, &tally).await;
    let ramp_secs = ramp_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(options.settle_secs)).await;
    let edges = window(options, &tally).await?;
    tokio::time::sleep(Duration::from_secs(options.drain_secs)).await;
    let received = lock(&tally).summary();
    let left = leave(subscribers, options, before).await?;
    report(options, ramp_secs, [before, left], edges, received)
}

/// What the server and this tool had spent at one edge of the window.
struct Edge {
    at: Instant,
    server: Option<Usage>,
    tool_cpu: Duration,
}

impl Edge {
    fn now(server_pid: Option<u32>) -> Result<Self, Error> {
        let (tool_cpu, _) = procfs::this_process()?;
        Ok(Self { at: Instant::now(), server: server_usage(server_pid)?, tool_cpu })
    }
}

/// Closes every subscriber, waits until the server has closed its ends too (bounded) and
/// `--settle-secs` more, and reads the server's usage: how much of what the subscribers
/// cost it gives back once they are gone.
async fn leave(
    mut subscribers: JoinSet<()>,
    options: &Options,
    before: Option<Usage>,
) -> Result<Option<Usage>, Error> {
    subscribers.shutdown().await;
    server_after_leaving(options.server_pid, before, Duration::from_secs(options.settle_secs)).await
}

/// The server's usage once it has closed its ends of the connections (its open files back
/// to `before`'s, waiting at most [`LEAVE_PATIENCE`]) and `settle` more has passed.
pub(crate) async fn server_after_leaving(
    pid: Option<u32>,
    before: Option<Usage>,
    settle: Duration,
) -> Result<Option<Usage>, Error> {
    if let (Some(pid), Some(before)) = (pid, before) {
        let started = Instant::now();
        // A server may notice a closed connection only at its next write to it.
        while procfs::open_files(pid)? > before.open_files + FILES_SLACK
            && started.elapsed() < LEAVE_PATIENCE
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(settle).await;
    server_usage(pid)
}

pub(crate) fn server_usage(pid: Option<u32>) -> Result<Option<Usage>, Error> {
    pid.map(procfs::usage).transpose()
}

/// The measuring window: counts events published from its start to its end.
async fn window(options: &Options, tally: &Mutex<Tally>) -> Result<[Edge; 2], Error> {
    let start = Edge::now(options.server_pid)?;
    lock(tally).open_window(SystemTime::now());
    eprintln!("sse-load: measuring for {} s", options.duration_secs);
    tokio::time::sleep(Duration::from_secs(options.duration_secs)).await;
    let end = Edge::now(options.server_pid)?;
    lock(tally).close_window(SystemTime::now());
    Ok([start, end])
}

fn report(
    options: &Options,
    ramp_secs: f64,
    [before, left]: [Option<Usage>; 2],
    [start, end]: [Edge; 2],
    received: Summary,
) -> Result<Report, Error> {
    let window_secs = end.at.duration_since(start.at).as_secs_f64();
    let deliveries = received.fan_out.as_ref().map_or(0, |fan_out| fan_out.deliveries);
    let open = received.fan_out.as_ref().map_or(0, |fan_out| fan_out.subscribers_at_window_start);
    let server = match (options.server_pid, before, start.server, end.server, left) {
        (Some(pid), Some(before), Some(connected), Some(after), Some(left)) => {
            Some(server_cost(pid, [before, connected, after, left], open, deliveries))
        }
        _ => None,
    };
    let (cpu, max_rss_bytes) = procfs::this_process()?;
    Ok(Report {
        url: options.url.clone(),
        subscribers_requested: options.subscribers,
        ramp_secs,
        window_secs,
        received,
        deliveries_per_sec: deliveries as f64 / window_secs,
        server,
        load_tool: ToolCost {
            threads: options.threads,
            cpu_secs: cpu.as_secs_f64(),
            cpu_secs_in_window: end.tool_cpu.saturating_sub(start.tool_cpu).as_secs_f64(),
            max_rss_bytes,
        },
    })
}

/// The server's cost from its usage before connecting, once connected, after the window,
/// and after every subscriber left.
fn server_cost(
    pid: u32,
    [before, connected, after, left]: [Usage; 4],
    open: u64,
    deliveries: u64,
) -> ServerCost {
    let cpu = after.cpu.saturating_sub(connected.cpu).as_secs_f64();
    let growth = connected.rss_bytes as f64 - before.rss_bytes as f64;
    ServerCost {
        pid,
        rss_before_bytes: before.rss_bytes,
        rss_connected_bytes: connected.rss_bytes,
        rss_after_window_bytes: after.rss_bytes,
        open_files: [before.open_files, connected.open_files, left.open_files],
        rss_after_leaving_bytes: left.rss_bytes,
        rss_after_leaving_over_before: left.rss_bytes as f64 / before.rss_bytes as f64,
        rss_growth_per_subscriber_bytes: (open > 0).then(|| growth / open as f64),
        cpu_secs_in_window: cpu,
        cpu_secs_per_million_deliveries: (deliveries > 0).then(|| cpu * 1e6 / deliveries as f64),
    }
}

/// Opens the subscribers at `--ramp-per-sec` at most, then waits until each has connected
/// or failed (bounded by `--connect-timeout-secs` after the last one started).
async fn ramp(target: &Arc<Target>, options: &Options, tally: &Arc<Mutex<Tally>>) -> JoinSet<()> {
    let mut subscribers = JoinSet::new();
    let patience = Duration::from_secs(options.connect_timeout_secs);
    let mut pace = tokio::time::interval(Duration::from_secs(1) / options.ramp_per_sec as u32);
    let mut progress = Progress::new(options.subscribers);
    for index in 0..options.subscribers {
        pace.tick().await;
        let source = source_addr(index as usize, options.source_addrs as usize);
        let stream = Stream { target: target.clone(), source, resume_from: None, patience };
        subscribers.spawn(subscriber(stream, tally.clone(), |_| {}));
        progress.maybe_report(&lock(tally));
    }
    let last_started = Instant::now();
    while lock(tally).settled() < options.subscribers && last_started.elapsed() <= patience {
        tokio::time::sleep(Duration::from_millis(100)).await;
        progress.maybe_report(&lock(tally));
    }
    progress.report(&lock(tally));
    subscribers
}

/// Connection counts on stderr, once a second.
pub(crate) struct Progress {
    wanted: u64,
    last: Instant,
}

impl Progress {
    pub(crate) fn new(wanted: u64) -> Self {
        Self { wanted, last: Instant::now() }
    }

    pub(crate) fn maybe_report(&mut self, tally: &Tally) {
        if self.last.elapsed() >= Duration::from_secs(1) {
            self.report(tally);
        }
    }

    pub(crate) fn report(&mut self, tally: &Tally) {
        let summary = (tally.open_streams(), tally.settled(), self.wanted);
        eprintln!("sse-load: {} open, {} of {} settled", summary.0, summary.1, summary.2);
        self.last = Instant::now();
    }
}

/// Where and how one subscriber connects.
pub(crate) struct Stream {
    pub target: Arc<Target>,
    /// The loopback address it connects from.
    pub source: Ipv4Addr,
    /// Sent as `Last-Event-ID`, as a browser does when it reconnects.
    pub resume_from: Option<String>,
    /// How long the connection and the response head may take.
    pub patience: Duration,
}

/// One subscriber from connect to the end of its stream, counted in `tally`; `watch` sees
/// every item as well.
pub(crate) async fn subscriber(
    stream: Stream,
    tally: Arc<Mutex<Tally>>,
    mut watch: impl FnMut(&Item<'_>),
) {
    let patience = stream.patience;
    let handshake = tokio::time::timeout(patience, handshake(&stream.target, stream.source)).await;
    let (sender, connection) = match handshake {
        Ok(Ok(opened)) => opened,
        Ok(Err(reason)) => return lock(&tally).failed(reason),
        Err(_) => return lock(&tally).failed("no connection within --connect-timeout-secs".into()),
    };
    // The connection must be driven while the request and the body are read.
    let (_, ()) = tokio::join!(connection, read_stream(sender, &stream, &tally, &mut watch));
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

/// Sends `GET`, and on `200` reads the stream until it ends.
async fn read_stream(
    mut sender: SendRequest<Empty<Bytes>>,
    stream: &Stream,
    tally: &Mutex<Tally>,
    watch: &mut impl FnMut(&Item<'_>),
) {
    let request = request(&stream.target, stream.resume_from.as_deref());
    let response = match tokio::time::timeout(stream.patience, sender.send_request(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => return lock(tally).failed(format!("request: {err}")),
        Err(_) => return lock(tally).failed("no response within --connect-timeout-secs".into()),
    };
    if response.status() != http::StatusCode::OK {
        return lock(tally).failed(format!("HTTP {}", response.status()));
    }
    lock(tally).connected();
    let reason = read_body(response.into_body(), tally, watch).await;
    lock(tally).ended(reason);
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

/// The tally, even if a subscriber panicked while holding it (its counts are still sound).
pub(crate) fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}
