//! `sse-load load`: opens N subscribers to an SSE endpoint on loopback at a bounded rate,
//! lets them settle, then measures for a window: which subscribers got which event, the
//! publish-to-receive latency, and what the server's process spent (RSS, CPU) from `/proc`,
//! and a proxy's in front of it if there is one.
//!
//! The run ends by itself: its phases are bounded, and a watchdog exits the process if they
//! somehow are not (see [`ClientOptions::block_on`]).

use crate::Error;
use crate::child::this_program;
use crate::client::flood;
use crate::client::tally::Summary;
use crate::client::target::Target;
use crate::client::{ClientOptions, Clients};
use crate::procfs::{self, Usage};
use crate::servers::usage::{self, LEAVE_PATIENCE};
use serde::{Deserialize, Serialize};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinSet;

/// Flags of `sse-load load`.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct Options {
    /// The SSE endpoint, on loopback only, e.g. `http://127.0.0.1:3000/sse`.
    #[arg(long)]
    pub url: String,
    /// Subscribers to open.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub subscribers: u64,
    /// Hubs to spread the subscribers over, round-robin: the `i`-th opens `--url` with
    /// `{hub}` replaced by `i mod N`. Must divide `--subscribers`; an event counts as
    /// received by all once every subscriber of its hub got it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub hubs: u64,
    /// Seconds of the measuring window, which starts once every subscriber has connected.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration_secs: u64,
    /// Process id of the server, whose RSS and CPU time are read from `/proc/<pid>`.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Process id of a proxy between the subscribers and the server (nginx's master): its
    /// RSS, CPU time and open files, summed over it and its child processes (the workers),
    /// are reported beside the server's.
    #[arg(long)]
    pub proxy_pid: Option<u32>,
    /// Peers that open the stream too and then send bytes without end on its connection
    /// (reading their stream and throwing it away), from before the window to its end: the
    /// subscribers' latency shows whether their streams wait for them. Not counted as
    /// subscribers.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub flooders: u64,
    /// Seconds to keep reading after the window, for events published in it still on the way.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub drain_secs: u64,
    #[command(flatten)]
    pub client: ClientOptions,
}

impl Options {
    /// `workload`'s subscribers on one hub at `url`, served by process `server_pid`, with
    /// no proxy, no flooders and the default 2 s to drain: what the commands that start
    /// their own servers measure.
    pub fn of_workload(
        url: String,
        workload: &crate::Workload,
        server_pid: u32,
        client: ClientOptions,
    ) -> Self {
        Self {
            url,
            subscribers: workload.subscribers,
            hubs: 1,
            duration_secs: workload.duration_secs,
            server_pid: Some(server_pid),
            proxy_pid: None,
            flooders: 0,
            drain_secs: 2,
            client,
        }
    }

    /// These options as `load` command-line arguments, for running it as a child process.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["load".to_owned(), "--url".to_owned(), self.url.clone()];
        let mut flag =
            |name: &str, value: u64| args.extend([format!("--{name}"), value.to_string()]);
        flag("subscribers", self.subscribers);
        flag("hubs", self.hubs);
        flag("duration-secs", self.duration_secs);
        flag("drain-secs", self.drain_secs);
        flag("flooders", self.flooders);
        if let Some(pid) = self.server_pid {
            flag("server-pid", pid.into());
        }
        if let Some(pid) = self.proxy_pid {
            flag("proxy-pid", pid.into());
        }
        args.extend(self.client.to_args());
        args
    }

    /// When the watchdog ends the run: every phase at its longest.
    fn deadline(&self) -> Duration {
        // Settling twice: after connecting, and after leaving.
        let phases = 2 * self.client.settle_secs + self.duration_secs + self.drain_secs;
        self.client.ramp_limit(self.subscribers) + Duration::from_secs(phases) + LEAVE_PATIENCE
    }
}

/// The run's result, printed as one JSON object (and read back by `compare`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub url: String,
    /// The request each connection served before its stream (`--reuse-connection`); `null`
    /// when the stream was each connection's first request.
    pub warm_up_path: Option<String>,
    pub subscribers_requested: u64,
    pub ramp_secs: f64,
    pub window_secs: f64,
    #[serde(flatten)]
    pub received: Summary,
    /// Deliveries of window events per second of the window.
    pub deliveries_per_sec: f64,
    /// `--flooders`, and the bytes the server's sockets took from them.
    #[serde(default)]
    pub flooders: u64,
    #[serde(default)]
    pub flood_bytes_sent: u64,
    pub server: Option<ServerCost>,
    /// What the proxy (with its workers) spent, with `--proxy-pid`.
    pub proxy: Option<ServerCost>,
    pub load_tool: ToolCost,
}

impl Report {
    /// Whether every subscriber asked for connected and received every event published in
    /// the window, and none of their streams ended in it.
    pub fn every_subscriber_got_every_event(&self) -> bool {
        let received = &self.received;
        let all_connected =
            received.connected == self.subscribers_requested && received.failed == 0;
        all_connected
            && received.fan_out.as_ref().is_some_and(|fan_out| {
                fan_out.events > 0
                    && fan_out.subscribers_at_window_start == self.subscribers_requested
                    && fan_out.streams_ended_since_window_start == 0
                    && fan_out.events_received_by_all == fan_out.events
                    && fan_out.events_missing_between_first_and_last == 0
            })
    }
}

/// What the server process spent, from `/proc/<pid>` (for a proxy: summed over it and its
/// child processes).
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
pub struct ToolCost {
    pub threads: u64,
    /// From start to report, connecting included.
    pub cpu_secs: f64,
    /// In the measuring window only: reading and counting the deliveries.
    pub cpu_secs_in_window: f64,
    /// In the measuring window, how long its threads were ready to run but waited for a
    /// CPU the machine's other work held (see [`procfs::this_process_cpu_wait`]). When it
    /// is a large part of the window, the events wait in the tool's own receive queues and
    /// the latency and stream lag are the tool's, not the server's.
    #[serde(default)]
    pub cpu_wait_secs_in_window: f64,
    pub max_rss_bytes: u64,
}

/// Runs `load` to its end and returns the report; progress goes to stderr.
pub fn run(options: &Options) -> Result<Report, Error> {
    check_hubs(options.subscribers, options.hubs)?;
    let clients =
        Clients::new(Target::parse(&options.url)?, &options.client).spread_over(options.hubs);
    options.client.block_on(options.subscribers, options.deadline(), measure(clients, options))
}

/// Fails, naming `--hubs`, unless `hubs` divide `subscribers` evenly.
pub fn check_hubs(subscribers: u64, hubs: u64) -> Result<(), Error> {
    if !subscribers.is_multiple_of(hubs) {
        let why = format!("({hubs}) must divide --subscribers ({subscribers})");
        return Err(Error::Flag { flag: "--hubs", why });
    }
    Ok(())
}

/// Runs `load` as a child process (its own open-files budget and watchdog) and reads its
/// report: for commands that start the servers, so that they hold none of the sockets.
pub fn run_as_child(options: &Options) -> Result<Report, Error> {
    let output = this_program()?
        .args(options.to_args())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| Error::Io(format!("running load: {err}")))?;
    if !output.status.success() {
        return Err(Error::Io(format!("load against {} failed: {}", options.url, output.status)));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|err| Error::Io(format!("reading load's report: {err}")))
}

async fn measure(clients: Clients, options: &Options) -> Result<Report, Error> {
    let before = Readings::now(options)?;
    let ramp_started = Instant::now();
    let mut subscribers = JoinSet::new();
    clients
        .ramp(options.subscribers, |index| {
            subscribers.spawn(clients.subscriber(index, None).run(|_| {}));
        })
        .await;
    let ramp_secs = ramp_started.elapsed().as_secs_f64();
    let flood_sent = Arc::new(AtomicU64::new(0));
    let mut flooders = JoinSet::new();
    for _ in 0..options.flooders {
        flooders.spawn(flood::flood(clients.target_arc(), flood_sent.clone()));
    }
    tokio::time::sleep(options.client.settle()).await;
    let edges = window(options, &clients).await?;
    flooders.shutdown().await;
    tokio::time::sleep(Duration::from_secs(options.drain_secs)).await;
    let received = clients.tally().summary();
    // Every subscriber closes; then the server's usage once it has closed its ends too.
    subscribers.shutdown().await;
    let settle = options.client.settle();
    usage::after_leaving(options.server_pid, before.server, settle).await?;
    let left = Readings::now(options)?;
    let flood_bytes_sent = flood_sent.load(Ordering::Relaxed);
    let report = report(options, ramp_secs, [before, left], edges, (received, flood_bytes_sent))?;
    warn_if_starved(&report.load_tool, report.window_secs);
    Ok(report)
}

/// Says on stderr when the tool's threads waited for a CPU for more than half the window:
/// the events then wait in its own receive queues, and its latency is not the server's.
fn warn_if_starved(tool: &ToolCost, window_secs: f64) {
    if tool.cpu_wait_secs_in_window > window_secs / 2.0 {
        eprintln!(
            "sse-load: warning: this tool waited {:.1} s of the {window_secs:.0} s window for a \
             CPU the machine's other work held; the latency and stream lag are mostly its own",
            tool.cpu_wait_secs_in_window
        );
    }
}

/// What the server and the proxy had spent at one moment.
#[derive(Clone, Copy)]
struct Readings {
    server: Option<Usage>,
    proxy: Option<Usage>,
}

impl Readings {
    fn now(options: &Options) -> Result<Self, Error> {
        let server = usage::usage(options.server_pid)?;
        Ok(Self { server, proxy: usage::proxy_usage(options.proxy_pid)? })
    }
}

/// What the servers and this tool had spent at one edge of the window.
struct Edge {
    at: Instant,
    spent: Readings,
    tool_cpu: Duration,
    tool_cpu_wait: Duration,
}

impl Edge {
    fn now(options: &Options) -> Result<Self, Error> {
        let (tool_cpu, _) = procfs::this_process()?;
        let tool_cpu_wait = procfs::this_process_cpu_wait()?;
        Ok(Self { at: Instant::now(), spent: Readings::now(options)?, tool_cpu, tool_cpu_wait })
    }
}

/// The measuring window: counts events published from its start to its end.
async fn window(options: &Options, clients: &Clients) -> Result<[Edge; 2], Error> {
    let start = Edge::now(options)?;
    clients.tally().open_window(SystemTime::now());
    eprintln!("sse-load: measuring for {} s", options.duration_secs);
    tokio::time::sleep(Duration::from_secs(options.duration_secs)).await;
    let end = Edge::now(options)?;
    clients.tally().close_window(SystemTime::now());
    Ok([start, end])
}

fn report(
    options: &Options,
    ramp_secs: f64,
    [before, left]: [Readings; 2],
    [start, end]: [Edge; 2],
    (received, flood_bytes_sent): (Summary, u64),
) -> Result<Report, Error> {
    let window_secs = end.at.duration_since(start.at).as_secs_f64();
    let deliveries = received.fan_out.as_ref().map_or(0, |fan_out| fan_out.deliveries);
    let open = received.fan_out.as_ref().map_or(0, |fan_out| fan_out.subscribers_at_window_start);
    let cost = |pid: Option<u32>, read: fn(&Readings) -> Option<Usage>| {
        let usages = [read(&before), read(&start.spent), read(&end.spent), read(&left)];
        match (pid, usages) {
            (Some(pid), [Some(before), Some(connected), Some(after), Some(left)]) => {
                Some(server_cost(pid, [before, connected, after, left], open, deliveries))
            }
            _ => None,
        }
    };
    let server = cost(options.server_pid, |readings| readings.server);
    let proxy = cost(options.proxy_pid, |readings| readings.proxy);
    let (cpu, max_rss_bytes) = procfs::this_process()?;
    Ok(Report {
        url: options.url.clone(),
        warm_up_path: options.client.warm_up().map(|path| path.to_string()),
        subscribers_requested: options.subscribers,
        ramp_secs,
        window_secs,
        received,
        deliveries_per_sec: deliveries as f64 / window_secs,
        flooders: options.flooders,
        flood_bytes_sent,
        server,
        proxy,
        load_tool: ToolCost {
            threads: options.client.threads,
            cpu_secs: cpu.as_secs_f64(),
            cpu_secs_in_window: end.tool_cpu.saturating_sub(start.tool_cpu).as_secs_f64(),
            cpu_wait_secs_in_window: (end.tool_cpu_wait.saturating_sub(start.tool_cpu_wait))
                .as_secs_f64(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    enum Cli {
        Load(Options),
    }

    #[test]
    fn options_survive_the_trip_to_a_child_process() {
        let Cli::Load(options) = Cli::try_parse_from([
            "sse-load",
            "load",
            "--url",
            "http://127.0.0.1:9/sse",
            "--subscribers",
            "12",
            "--hubs",
            "3",
            "--duration-secs",
            "3",
            "--server-pid",
            "4242",
            "--proxy-pid",
            "4343",
            "--threads",
            "2",
            "--reuse-connection",
            "--flooders",
            "1",
        ])
        .unwrap();
        let args = std::iter::once("sse-load".to_owned()).chain(options.to_args());
        let Cli::Load(again) = Cli::try_parse_from(args).unwrap();
        assert_eq!(again, options);
    }
}
