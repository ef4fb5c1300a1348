//! `sse-load soak`: holds N subscribers against an SSE endpoint on loopback for a long
//! while and keeps replacing some of them, the way browsers come and go, to see whether
//! the server's memory stays flat and comes back once everyone has left.
//!
//! ```text
//! ramp to N ──► churn for --duration-secs: every 1/--churn-per-sec s the oldest closes,
//!               a new one connects (every other one with Last-Event-ID) ──► all leave
//!   RSS: before        sampled every --sample-secs                       after leaving
//! ```
//! Each connection's data events must be consecutive (`<epoch>-<index>` ids one apart):
//! gaps and duplicates are counted per connection. The run is bounded by its phases and a
//! watchdog, like `load`'s, and reaches loopback only.

mod pool;
mod sequence;

pub use sequence::Streams;

use crate::Error;
use crate::client::tally::Summary;
use crate::client::target::Target;
use crate::client::{ClientOptions, Clients};
use crate::procfs::{self, Usage};
use crate::servers::readiness::START_PATIENCE;
use crate::servers::usage::{self, LEAVE_PATIENCE};
use crate::servers::{Server, ServerOptions};
use pool::Pool;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Flags of `sse-load soak`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// The SSE endpoint, on loopback only. Without it, soak starts the livenames server
    /// (`--server`) on a free loopback port and stops it at the end.
    #[arg(long)]
    pub url: Option<String>,
    /// Process id of the server at `--url`, whose RSS, CPU and open files are read from
    /// `/proc/<pid>` (the server soak starts is read without it).
    #[arg(long, requires = "url")]
    pub server_pid: Option<u32>,
    /// Milliseconds between two events of the server soak starts.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_ms: u64,
    /// Events the server soak starts keeps for resuming (its `--history`). Soak waits until
    /// that many are published before it reads the server's RSS: a history still filling
    /// would count as growth, though it is bounded.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub history: u64,
    /// Subscribers held open throughout.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub subscribers: u64,
    /// Seconds of churn, counted from once every subscriber has connected.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration_secs: u64,
    /// Subscribers replaced per second: the oldest closes its connection and a new one
    /// connects, every other one sending `Last-Event-ID` where the one it replaces stopped.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub churn_per_sec: u64,
    /// Seconds between two readings of the server's RSS during the churn.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sample_secs: u64,
    #[command(flatten)]
    pub servers: ServerOptions,
    #[command(flatten)]
    pub client: ClientOptions,
}

impl Options {
    /// When the watchdog ends the run: starting the server, every phase at its longest.
    fn deadline(&self) -> Duration {
        // The last replacements may take their whole patience; then everyone leaves.
        let churn = self.duration_secs + self.client.connect_timeout_secs;
        let settling = Duration::from_secs(churn + 2 * self.client.settle_secs);
        let ramp = self.client.ramp_limit(self.subscribers);
        START_PATIENCE + ramp + settling + LEAVE_PATIENCE
    }

    /// Connections open at once at most: the N held and the replacements on their way.
    fn connections(&self) -> u64 {
        self.subscribers + self.churn_per_sec
    }
}

/// The run's result, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    /// The request each connection served before its stream (`--reuse-connection`); `null`
    /// when the stream was each connection's first request.
    pub warm_up_path: Option<String>,
    pub subscribers: u64,
    pub churn_per_sec: u64,
    pub churn_secs: f64,
    pub load_average_before: String,
    pub load_average_after: String,
    /// Subscribers started: the first N and their replacements.
    pub started: u64,
    /// Connections the tool closed to replace them, and at the end (some of the last
    /// replacements may still have been connecting then).
    pub closed_by_tool: u64,
    /// Connections opened with `Last-Event-ID`.
    pub resumed: u64,
    #[serde(flatten)]
    pub received: Summary,
    /// Order of the data events, checked per connection.
    pub streams: Streams,
    pub server: Option<ServerMemory>,
    pub load_tool_cpu_secs: f64,
}

/// What the server's memory did, from `/proc/<pid>`.
#[derive(Debug, Serialize)]
pub struct ServerMemory {
    pub pid: u32,
    pub rss_before_bytes: u64,
    /// Once the first N subscribers had connected.
    pub rss_connected_bytes: u64,
    pub rss_during_churn: Samples,
    /// After every subscriber closed its connection, the server's open files were back to
    /// their count before, and `--settle-secs` passed.
    pub rss_after_leaving_bytes: u64,
    /// The issue's soak target asks for at most 1.10.
    pub rss_after_leaving_over_before: f64,
    /// Open files before, once connected, and after leaving.
    pub open_files: [u64; 3],
    pub cpu_secs_in_churn: f64,
    /// Server CPU over the churn (connecting and closing included) per million data
    /// events received in it.
    pub cpu_secs_per_million_events_in_churn: Option<f64>,
}

/// RSS readings taken every `--sample-secs` over the churn.
#[derive(Debug, Serialize)]
pub struct Samples {
    pub every_secs: u64,
    pub first_bytes: u64,
    pub last_bytes: u64,
    pub min_bytes: u64,
    pub max_bytes: u64,
    /// Last over first: 1.0 when memory stayed flat.
    pub last_over_first: f64,
    pub rss_bytes: Vec<u64>,
}

impl Samples {
    /// Summarises `rss_bytes`, read every `every_secs`; `None` when there is no reading.
    pub fn of(every_secs: u64, rss_bytes: Vec<u64>) -> Option<Self> {
        let (first, last) = (*rss_bytes.first()?, *rss_bytes.last()?);
        Some(Self {
            every_secs,
            first_bytes: first,
            last_bytes: last,
            min_bytes: rss_bytes.iter().copied().min()?,
            max_bytes: rss_bytes.iter().copied().max()?,
            last_over_first: last as f64 / first as f64,
            rss_bytes,
        })
    }
}

/// Runs `soak` to its end and returns the report; progress goes to stderr.
pub fn run(options: &Options) -> Result<Report, Error> {
    let (server, url, pid) = server(options)?;
    let clients = Clients::new(Target::parse(&url)?, &options.client);
    let report = options.client.block_on(
        options.connections(),
        options.deadline(),
        soak(clients, pid, options),
    );
    drop(server);
    report
}

/// The server under soak: `--url` (and `--server-pid`), or livenames started here, once
/// its history is full.
fn server(options: &Options) -> Result<(Option<Server>, String, Option<u32>), Error> {
    if let Some(url) = &options.url {
        // Checked before anything starts.
        Target::parse(url)?;
        return Ok((None, url.clone(), options.server_pid));
    }
    let servers = &options.servers;
    servers.check()?;
    let mut command = servers.livenames(options.connections(), options.interval_ms);
    command.args(["--history", &options.history.to_string()]);
    let server = servers.start("livenames-soak", command)?;
    let history_full = Duration::from_millis(options.history * options.interval_ms);
    eprintln!("sse-load: waiting {history_full:?} for the server's history to fill");
    std::thread::sleep(history_full);
    let (url, pid) = (server.sse_url(), server.pid());
    Ok((Some(server), url, Some(pid)))
}

async fn soak(clients: Clients, pid: Option<u32>, options: &Options) -> Result<Report, Error> {
    let load_average_before = procfs::load_average()?;
    let before = usage::usage(pid)?;
    let mut pool = Pool::new(clients.clone());
    pool.fill(options.subscribers).await;
    tokio::time::sleep(options.client.settle()).await;
    let connected = usage::usage(pid)?;
    let events_before_churn = clients.tally().summary().data_events_received;
    let every = Duration::from_secs(options.sample_secs);
    let churn_time = Duration::from_secs(options.duration_secs);
    let sampler = tokio::spawn(sample_rss(pid, every, churn_time));
    let churn_started = Instant::now();
    pool.churn(options.churn_per_sec, churn_time).await;
    let churn_secs = churn_started.elapsed().as_secs_f64();
    let end_of_churn = usage::usage(pid)?;
    let rss_samples = sampler.await.map_err(|err| Error::Io(format!("sampling RSS: {err}")))??;
    let received = clients.tally().summary();
    let streams = pool.close_all().await;
    let left = usage::after_leaving(pid, before, options.client.settle()).await?;
    let events_in_churn = received.data_events_received - events_before_churn;
    let usages = [before, connected, end_of_churn, left];
    let server = server_memory(pid, usages, rss_samples, options.sample_secs, events_in_churn);
    let target = clients.target();
    Ok(Report {
        url: options
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{}{}", target.addr, target.path)),
        warm_up_path: options.client.warm_up().map(|path| path.to_string()),
        subscribers: options.subscribers,
        churn_per_sec: options.churn_per_sec,
        churn_secs,
        load_average_before,
        load_average_after: procfs::load_average()?,
        started: pool.started,
        closed_by_tool: pool.closed,
        resumed: pool.resumed,
        received,
        streams,
        server,
        load_tool_cpu_secs: procfs::this_process()?.0.as_secs_f64(),
    })
}

/// The server's memory from its usage before, once connected, at the end of the churn and
/// after leaving; `None` without a server pid.
fn server_memory(
    pid: Option<u32>,
    usages: [Option<Usage>; 4],
    rss_samples: Vec<u64>,
    sample_secs: u64,
    events_in_churn: u64,
) -> Option<ServerMemory> {
    let [Some(before), Some(connected), Some(end), Some(left)] = usages else { return None };
    let cpu = end.cpu.saturating_sub(connected.cpu).as_secs_f64();
    Some(ServerMemory {
        pid: pid?,
        rss_before_bytes: before.rss_bytes,
        rss_connected_bytes: connected.rss_bytes,
        rss_during_churn: Samples::of(sample_secs, rss_samples)?,
        rss_after_leaving_bytes: left.rss_bytes,
        rss_after_leaving_over_before: left.rss_bytes as f64 / before.rss_bytes as f64,
        open_files: [before.open_files, connected.open_files, left.open_files],
        cpu_secs_in_churn: cpu,
        cpu_secs_per_million_events_in_churn: (events_in_churn > 0)
            .then(|| cpu * 1e6 / events_in_churn as f64),
    })
}

/// The server's RSS every `every` for `length` (the first reading at once, the last at
/// the end); empty without a pid.
async fn sample_rss(
    pid: Option<u32>,
    every: Duration,
    length: Duration,
) -> Result<Vec<u64>, Error> {
    let Some(pid) = pid else { return Ok(Vec::new()) };
    let started = Instant::now();
    let mut readings = Vec::new();
    let mut ticks = tokio::time::interval(every);
    while started.elapsed() < length {
        ticks.tick().await;
        readings.push(procfs::usage(pid)?.rss_bytes);
    }
    Ok(readings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_their_edges_and_extremes() {
        let samples = Samples::of(5, vec![100, 300, 50, 200]).unwrap();
        assert_eq!((samples.first_bytes, samples.last_bytes), (100, 200));
        assert_eq!((samples.min_bytes, samples.max_bytes), (50, 300));
        assert!((samples.last_over_first - 2.0).abs() < 1e-9);
        assert!(Samples::of(5, Vec::new()).is_none());
    }
}
