//! `sse-load hubs`: the same subscribers spread over many hubs of one `sse_lean::Lean`
//! server, against all of them on one hub. Every hub of the process rings one doorbell when
//! it publishes, and every writer then tries each stream it holds, so the cost of an event
//! grows with all the streams, not only its hub's: this measures what that costs.
//!
//! `sse-load hubs-server` serves `--hubs` hubs at `GET /hubs/{n}` through `Lean` with
//! `Reply::subscribe`, each publishing livenames' payload every `--interval-ms`, the hubs'
//! first events spread evenly over one interval (so N hubs make N publishes per interval).
//! `sse-load hubs` starts it with one hub, runs `load` on it, then with `--hubs` hubs, with
//! the subscribers spread round-robin over them (`load --hubs`), and prints both runs'
//! figures side by side. Both runs deliver the same events per second: one hub sends each
//! event to every subscriber, N hubs send N times as many events to a N-th of them each.

use crate::baseline::{Payload, listen, server_runtime};
use crate::client::ClientOptions;
use crate::figures::{Figures, Quotients};
use crate::{Error, Workload, load, procfs, servers};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use sse_lean::{Hub, LastEventId, Lean, Reply, StreamOptions};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::{Instant, MissedTickBehavior, interval_at};

/// Events each hub keeps for resumes; the run never resumes, so few.
const HISTORY: NonZeroUsize = NonZeroUsize::new(16).unwrap();
/// Events a subscriber may fall behind, `Hub::default()`'s.
const BACKLOG: NonZeroUsize = NonZeroUsize::new(64).unwrap();

/// Flags of `sse-load hubs-server`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerOptions {
    /// Loopback address and port to listen on (port 0 picks a free one; the chosen address
    /// is printed as `listening on http://…`).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Hubs to serve, at `/hubs/0` to `/hubs/<N-1>`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub hubs: u64,
    /// Milliseconds between two events of one hub.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_ms: u64,
}

/// Flags of `sse-load hubs`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// `--interval-ms` is each hub's, in both runs.
    #[command(flatten)]
    pub workload: Workload,
    /// Hubs of the second run (the first has one); must divide `--subscribers`.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    pub hubs: u64,
    /// Folder for the logs of the servers the run starts.
    #[arg(long, default_value = "target/sse-bench")]
    pub log_dir: PathBuf,
    #[command(flatten)]
    pub client: ClientOptions,
}

/// Both runs' figures side by side, then their whole `load` reports.
#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub workload: Workload,
    pub hubs: u64,
    pub load_average_before: String,
    pub load_average_after: String,
    pub one_hub: Figures,
    pub many_hubs: Figures,
    /// The many hubs' figures over the one hub's.
    pub many_over_one: Quotients,
    pub one_hub_load: load::Report,
    pub many_hubs_load: load::Report,
}

/// Runs one hub, then `--hubs` hubs, and returns both reports.
pub fn run(options: &Options) -> Result<Report, Error> {
    load::check_hubs(options.workload.subscribers, options.hubs)?;
    std::fs::create_dir_all(&options.log_dir).map_err(|err| {
        Error::Io(format!("creating --log-dir {}: {err}", options.log_dir.display()))
    })?;
    let load_average_before = procfs::load_average()?;
    let one_hub_load = measure(1, options)?;
    let many_hubs_load = measure(options.hubs, options)?;
    let (one_hub, many_hubs) =
        (Figures::of_server(&one_hub_load), Figures::of_server(&many_hubs_load));
    Ok(Report {
        workload: options.workload.clone(),
        hubs: options.hubs,
        load_average_before,
        load_average_after: procfs::load_average()?,
        many_over_one: many_hubs.over(&one_hub),
        one_hub,
        many_hubs,
        one_hub_load,
        many_hubs_load,
    })
}

/// Starts `hubs-server` with `hubs` hubs, loads it with the subscribers spread over them,
/// stops it, and returns the load report.
fn measure(hubs: u64, options: &Options) -> Result<load::Report, Error> {
    let mut command = crate::child::this_program()?;
    let interval = options.workload.interval_ms.to_string();
    command.args(["hubs-server", "--hubs", &hubs.to_string(), "--interval-ms", &interval]);
    let servers =
        servers::ServerOptions { server: PathBuf::new(), log_dir: options.log_dir.clone() };
    let server = servers.start(&format!("hubs-{hubs}"), command)?;
    let url = format!("{}/hubs/{{hub}}", server.url);
    let load = load::Options {
        hubs,
        ..load::Options::of_workload(url, &options.workload, server.pid(), options.client.clone())
    };
    let report = load::run_as_child(&load)?;
    drop(server);
    Ok(report)
}

/// Serves the hubs until the process is killed.
pub fn serve(options: &ServerOptions) -> Result<(), Error> {
    server_runtime(options.addr)?.block_on(async {
        let listener = listen(options.addr).await?;
        let hubs = start_hubs(options.hubs, Duration::from_millis(options.interval_ms));
        let router = Router::new().route("/hubs/{n}", get(subscribe)).with_state(hubs);
        Lean::default().serve(listener, router).await.map_err(|err| Error::Io(err.to_string()))
    })
}

/// `hubs` hubs, each publishing every `interval` from its own task, the first events
/// spread evenly over the first interval. Each hub's epoch is its own (now plus its
/// number), so no two hubs' event ids are alike.
fn start_hubs(hubs: u64, interval: Duration) -> Arc<Vec<Hub<Payload>>> {
    let epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let epoch = epoch.as_millis() as u64;
    let start = Instant::now() + interval;
    let hubs: Vec<_> = (0..hubs)
        .map(|n| {
            let hub = Hub::with_epoch(epoch + n, HISTORY, BACKLOG);
            let offset = interval.mul_f64(n as f64 / hubs as f64);
            tokio::spawn(publish(hub.clone(), start + offset, interval));
            hub
        })
        .collect();
    Arc::new(hubs)
}

/// Publishes on `hub` every `interval` from `first` on.
async fn publish(hub: Hub<Payload>, first: Instant, interval: Duration) {
    let mut ticks = interval_at(first, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        hub.publish(Payload::now);
    }
}

/// `GET /hubs/{n}`: hub `n`'s stream; 404 if there is no such hub.
async fn subscribe(
    State(hubs): State<Arc<Vec<Hub<Payload>>>>,
    Path(n): Path<usize>,
    last: LastEventId,
    reply: Reply,
) -> Response {
    match hubs.get(n) {
        Some(hub) => reply.subscribe(hub, last, StreamOptions::default()),
        None => (StatusCode::NOT_FOUND, format!("no hub {n}\n")).into_response(),
    }
}
