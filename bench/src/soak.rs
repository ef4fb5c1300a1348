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

use crate::child::Running;
use crate::load::{self, LEAVE_PATIENCE, SPARE_FILES, Stream, WATCHDOG_MARGIN, lock};
use crate::procfs::{self, Usage};
use crate::sse::Item;
use crate::tally::{Summary, Tally, event_id};
use crate::target::{Target, source_addr};
use crate::{Error, Workload, compare};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
    /// The livenames server binary, when no `--url` is given.
    #[arg(long, default_value = "target/release/server")]
    pub server: PathBuf,
    /// Milliseconds between two events of the server soak starts.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_ms: u64,
    /// Events the server soak starts keeps for resuming (its `--history`). Soak waits until
    /// that many are published before it reads the server's RSS: a history still filling
    /// would count as growth, though it is bounded.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub history: u64,
    /// Folder for the log of the server soak starts.
    #[arg(long, default_value = "target/sse-bench")]
    pub log_dir: PathBuf,
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
    /// New connections per second at most while the first N connect.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub ramp_per_sec: u64,
    /// Loopback source addresses to spread connections over: 127.0.0.1, 127.0.0.2, …
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=254))]
    pub source_addrs: u64,
    /// Seconds to wait after the first N connected before the churn, and once every
    /// subscriber has left and the server has closed its ends before reading its RSS again.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub settle_secs: u64,
    /// Seconds a subscriber may wait for its response head before it counts as failed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout_secs: u64,
    /// Worker threads of the tool's own runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub threads: u64,
}

impl Options {
    /// When the watchdog ends the run: starting the server, every phase at its longest,
    /// plus a margin.
    fn deadline(&self) -> Duration {
        let ramp = self.subscribers.div_ceil(self.ramp_per_sec) + self.connect_timeout_secs;
        // The last replacements may take their whole patience; then everyone leaves.
        let churn = self.duration_secs + self.connect_timeout_secs;
        let phases = Duration::from_secs(ramp + churn + 2 * self.settle_secs);
        compare::START_PATIENCE + phases + LEAVE_PATIENCE + WATCHDOG_MARGIN
    }

    /// The size of the livenames server to start.
    fn workload(&self) -> Workload {
        Workload {
            subscribers: self.subscribers + self.churn_per_sec,
            interval_ms: self.interval_ms,
            duration_secs: self.duration_secs,
        }
    }
}

/// The run's result, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
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

/// Whether one connection's data events came one after the other.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sequence {
    /// The epoch and index of the last data event, or of the id resumed from.
    last: Option<(u64, u64)>,
    events: u64,
    gaps: u64,
    missing: u64,
    duplicates: u64,
    restarts: u64,
    unreadable: u64,
}

impl Sequence {
    /// A connection that resumes after `last_event_id` (none for a fresh one, which may
    /// start at any event).
    pub fn after(last_event_id: Option<&str>) -> Self {
        Self { last: last_event_id.and_then(event_id), ..Self::default() }
    }

    /// Checks one item of the stream: data events against the last; `event: gap` (the
    /// resumed id was too old) lets the sequence start again.
    pub fn see(&mut self, item: &Item<'_>) {
        let Item::Event(event) = item else { return };
        match event.name {
            "message" => self.data_event(event.id),
            "gap" => {
                self.restarts += 1;
                self.last = None;
            }
            _ => {}
        }
    }

    fn data_event(&mut self, id: &str) {
        self.events += 1;
        let Some((epoch, index)) = event_id(id) else {
            self.unreadable += 1;
            return;
        };
        match self.last {
            Some((last_epoch, last)) if last_epoch == epoch => {
                if index <= last {
                    self.duplicates += 1;
                    return;
                }
                if index > last + 1 {
                    self.gaps += 1;
                    self.missing += index - last - 1;
                }
            }
            // Another run of the server: its ids start again.
            Some(_) => self.restarts += 1,
            None => {}
        }
        self.last = Some((epoch, index));
    }

    /// The id to resume after, as `Last-Event-ID`.
    pub fn last_id(&self) -> Option<String> {
        self.last.map(|(epoch, index)| format!("{epoch}-{index}"))
    }
}

/// The [`Sequence`]s of every connection of a run, added up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Streams {
    pub connections: u64,
    /// Connections closed before their first data event (or that never opened).
    pub connections_without_events: u64,
    pub data_events: u64,
    /// Connections that missed at least one event between two they received.
    pub connections_with_gaps: u64,
    pub gaps: u64,
    pub events_missing: u64,
    /// Connections that received an event they already had, or an older one.
    pub connections_with_duplicates: u64,
    pub duplicates: u64,
    /// `event: gap` or ids of another server run: the sequence started again.
    pub restarts: u64,
    pub unreadable_ids: u64,
}

impl Streams {
    /// Adds one connection's sequence.
    pub fn add(&mut self, sequence: &Sequence) {
        self.connections += 1;
        self.connections_without_events += u64::from(sequence.events == 0);
        self.data_events += sequence.events;
        self.connections_with_gaps += u64::from(sequence.gaps > 0);
        self.gaps += sequence.gaps;
        self.events_missing += sequence.missing;
        self.connections_with_duplicates += u64::from(sequence.duplicates > 0);
        self.duplicates += sequence.duplicates;
        self.restarts += sequence.restarts;
        self.unreadable_ids += sequence.unreadable;
    }
}

/// Runs `soak` to its end and returns the report; progress goes to stderr.
pub fn run(options: &Options) -> Result<Report, Error> {
    let (server, url, pid) = server(options)?;
    let target = Target::parse(&url)?;
    crate::open_files_for(
        options.subscribers + options.churn_per_sec + SPARE_FILES,
        "--subscribers",
    )?;
    load::start_watchdog(options.deadline());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads as usize)
        .enable_all()
        .build()
        .map_err(|err| Error::Io(format!("starting the runtime: {err}")))?;
    let report = runtime.block_on(soak(Arc::new(target), pid, options));
    runtime.shutdown_background();
    drop(server);
    report
}

/// The server under soak: `--url` (and `--server-pid`), or livenames started here.
fn server(options: &Options) -> Result<(Option<Running>, String, Option<u32>), Error> {
    if let Some(url) = &options.url {
        // Checked before anything starts.
        Target::parse(url)?;
        return Ok((None, url.clone(), options.server_pid));
    }
    compare::check_server(&options.server, &options.log_dir)?;
    let mut command = compare::livenames_command(&options.server, &options.workload());
    command.args(["--history", &options.history.to_string()]);
    let (running, url) = compare::start_server("livenames-soak", command, &options.log_dir)?;
    let pid = running.pid();
    let history_full = Duration::from_millis(options.history * options.interval_ms);
    eprintln!("sse-load: waiting {history_full:?} for the server's history to fill");
    std::thread::sleep(history_full);
    Ok((Some(running), format!("{url}/sse"), Some(pid)))
}

async fn soak(target: Arc<Target>, pid: Option<u32>, options: &Options) -> Result<Report, Error> {
    let load_average_before = procfs::load_average()?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let before = load::server_usage(pid)?;
    let mut pool = Pool::new(target.clone(), options, tally.clone());
    pool.fill(options.subscribers, options.ramp_per_sec).await;
    tokio::time::sleep(Duration::from_secs(options.settle_secs)).await;
    let connected = load::server_usage(pid)?;
    let events_before_churn = lock(&tally).summary().data_events_received;
    let every = Duration::from_secs(options.sample_secs);
    let churn_time = Duration::from_secs(options.duration_secs);
    let sampler = tokio::spawn(sample_rss(pid, every, churn_time));
    let churn_started = Instant::now();
    pool.churn(options.churn_per_sec, churn_time).await;
    let churn_secs = churn_started.elapsed().as_secs_f64();
    let end_of_churn = load::server_usage(pid)?;
    let rss_samples = sampler.await.map_err(|err| Error::Io(format!("sampling RSS: {err}")))??;
    let received = lock(&tally).summary();
    let streams = pool.close_all().await;
    let settle = Duration::from_secs(options.settle_secs);
    let left = load::server_after_leaving(pid, before, settle).await?;
    let events_in_churn = received.data_events_received - events_before_churn;
    let usages = [before, connected, end_of_churn, left];
    let server = server_memory(pid, usages, rss_samples, options.sample_secs, events_in_churn);
    Ok(Report {
        url: options
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{}{}", target.addr, target.path)),
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

/// The subscribers held open: one slot each, replaced oldest first.
struct Pool {
    target: Arc<Target>,
    tally: Arc<Mutex<Tally>>,
    patience: Duration,
    source_addrs: usize,
    slots: Vec<Slot>,
    /// Subscribers started so far: picks the source address.
    started: u64,
    /// Subscribers replaced so far: picks the next to close and which ones resume.
    replaced: u64,
    closed: u64,
    resumed: u64,
    streams: Streams,
}

/// One subscriber: how to stop it, and its sequence once it has stopped.
struct Slot {
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<Sequence>,
}

impl Slot {
    /// Asks the subscriber to close its connection (once).
    fn close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// The subscriber's sequence once it has stopped; `None` if it panicked.
    async fn sequence(&mut self) -> Option<Sequence> {
        (&mut self.done).await.ok()
    }
}

impl Pool {
    fn new(target: Arc<Target>, options: &Options, tally: Arc<Mutex<Tally>>) -> Self {
        Self {
            target,
            tally,
            patience: Duration::from_secs(options.connect_timeout_secs),
            source_addrs: options.source_addrs as usize,
            slots: Vec::with_capacity(options.subscribers as usize),
            started: 0,
            replaced: 0,
            closed: 0,
            resumed: 0,
            streams: Streams::default(),
        }
    }

    /// Opens `wanted` subscribers at `per_sec` at most, then waits until each has
    /// connected or failed (bounded by the connect patience after the last one started).
    async fn fill(&mut self, wanted: u64, per_sec: u64) {
        let mut pace = tokio::time::interval(Duration::from_secs(1) / per_sec as u32);
        let mut progress = load::Progress::new(wanted);
        for _ in 0..wanted {
            pace.tick().await;
            let slot = self.start(None);
            self.slots.push(slot);
            progress.maybe_report(&lock(&self.tally));
        }
        let last_started = Instant::now();
        while lock(&self.tally).settled() < wanted && last_started.elapsed() <= self.patience {
            tokio::time::sleep(Duration::from_millis(100)).await;
            progress.maybe_report(&lock(&self.tally));
        }
        progress.report(&lock(&self.tally));
    }

    /// Replaces `per_sec` subscribers a second, oldest first, for `length`.
    async fn churn(&mut self, per_sec: u64, length: Duration) {
        if per_sec == 0 || self.slots.is_empty() {
            return tokio::time::sleep(length).await;
        }
        eprintln!("sse-load: replacing {per_sec} subscribers a second for {length:?}");
        let started = Instant::now();
        let mut pace = tokio::time::interval(Duration::from_secs(1) / per_sec as u32);
        while started.elapsed() < length {
            pace.tick().await;
            self.replace().await;
            if self.replaced.is_multiple_of(per_sec * 60) {
                eprintln!("sse-load: {} replaced; {:?}", self.replaced, self.streams);
            }
        }
    }

    /// Closes the oldest subscriber and starts another in its place; every other one
    /// resumes after the last event the closed one received, as a reconnecting browser.
    async fn replace(&mut self) {
        let index = (self.replaced % self.slots.len() as u64) as usize;
        let resume = self.replaced.is_multiple_of(2);
        self.replaced += 1;
        let old = &mut self.slots[index];
        old.close();
        let sequence = old.sequence().await;
        self.closed += 1;
        let resume_from = sequence.as_ref().and_then(Sequence::last_id).filter(|_| resume);
        if let Some(sequence) = &sequence {
            self.streams.add(sequence);
        }
        self.slots[index] = self.start(resume_from);
    }

    /// Starts one subscriber, resuming after `resume_from` if given.
    fn start(&mut self, resume_from: Option<String>) -> Slot {
        let source = source_addr(self.started as usize, self.source_addrs);
        self.started += 1;
        self.resumed += u64::from(resume_from.is_some());
        let patience = self.patience;
        let stream = Stream { target: self.target.clone(), source, resume_from, patience };
        let (stop, stopped) = oneshot::channel();
        let done = tokio::spawn(subscriber(stream, self.tally.clone(), stopped));
        Slot { stop: Some(stop), done }
    }

    /// Closes every subscriber at once and returns the sequences of all connections of
    /// the run.
    async fn close_all(&mut self) -> Streams {
        self.slots.iter_mut().for_each(Slot::close);
        for slot in &mut self.slots {
            self.closed += 1;
            if let Some(sequence) = slot.sequence().await {
                self.streams.add(&sequence);
            }
        }
        self.slots.clear();
        self.streams.clone()
    }
}

/// One subscriber of the pool: reads until its stream ends or it is told to close, and
/// returns the order its data events came in.
async fn subscriber(
    stream: Stream,
    tally: Arc<Mutex<Tally>>,
    stop: oneshot::Receiver<()>,
) -> Sequence {
    let mut sequence = Sequence::after(stream.resume_from.as_deref());
    tokio::select! {
        _ = stop => {}
        () = load::subscriber(stream, tally, |item| sequence.see(item)) => {}
    }
    sequence
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Event;

    fn message(id: &str) -> Item<'_> {
        Item::Event(Event { id, name: "message", data: b"{}", retry: None, bytes: 10 })
    }

    fn named<'a>(name: &'a str, id: &'a str) -> Item<'a> {
        Item::Event(Event { id, name, data: b"x", retry: None, bytes: 10 })
    }

    fn seen(start: Option<&str>, items: &[Item<'_>]) -> Sequence {
        let mut sequence = Sequence::after(start);
        items.iter().for_each(|item| sequence.see(item));
        sequence
    }

    #[test]
    fn consecutive_events_from_any_start_are_clean() {
        let sequence = seen(None, &[message("17-40"), named("ping", "17-40"), message("17-41")]);
        let mut streams = Streams::default();
        streams.add(&sequence);
        assert_eq!(streams, Streams { connections: 1, data_events: 2, ..Streams::default() });
        assert_eq!(sequence.last_id().as_deref(), Some("17-41"));
    }

    #[test]
    fn gaps_and_duplicates_are_counted_per_connection() {
        let items = [message("17-1"), message("17-4"), message("17-4"), message("17-2")];
        let sequence = seen(None, &items);
        assert_eq!((sequence.gaps, sequence.missing, sequence.duplicates), (1, 2, 2));
        assert_eq!(sequence.last_id().as_deref(), Some("17-4"), "an old event moves nothing");
        let mut streams = Streams::default();
        streams.add(&sequence);
        streams.add(&seen(None, &[message("17-9")]));
        assert_eq!((streams.connections, streams.connections_with_gaps), (2, 1));
        assert_eq!((streams.connections_with_duplicates, streams.data_events), (1, 5));
    }

    #[test]
    fn a_resumed_connection_must_start_right_after_its_id() {
        assert_eq!(seen(Some("17-5"), &[message("17-6")]).gaps, 0);
        assert_eq!(seen(Some("17-5"), &[message("17-5")]).duplicates, 1);
        let late = seen(Some("17-5"), &[message("17-8")]);
        assert_eq!((late.gaps, late.missing), (1, 2));
    }

    #[test]
    fn a_gap_event_or_another_run_starts_the_sequence_again() {
        let too_old = seen(Some("17-5"), &[named("gap", "17-5"), message("17-900")]);
        assert_eq!((too_old.gaps, too_old.restarts), (0, 1));
        let restarted = seen(Some("17-5"), &[message("18-1")]);
        assert_eq!((restarted.gaps, restarted.duplicates, restarted.restarts), (0, 0, 1));
        let unreadable = seen(None, &[message("no index")]);
        assert_eq!((unreadable.events, unreadable.unreadable), (1, 1));
    }

    #[test]
    fn samples_keep_their_edges_and_extremes() {
        let samples = Samples::of(5, vec![100, 300, 50, 200]).unwrap();
        assert_eq!((samples.first_bytes, samples.last_bytes), (100, 200));
        assert_eq!((samples.min_bytes, samples.max_bytes), (50, 300));
        assert!((samples.last_over_first - 2.0).abs() < 1e-9);
        assert!(Samples::of(5, Vec::new()).is_none());
    }
}
