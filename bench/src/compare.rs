//! `sse-load compare`: the whole comparison in one command. Starts the livenames release
//! server and the baseline in turn (never both at once, so neither steals the other's CPU),
//! runs `load` against each as a child process, runs `floor` with livenames' bytes per
//! event, and prints every report with the ratios the targets are stated in.

use crate::child::{Running, command};
use crate::{Error, Workload, floor, load, procfs};
use serde_json::{Value, json};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to print the address it listens on.
pub(crate) const START_PATIENCE: Duration = Duration::from_secs(30);
/// Text both servers print once listening, followed by their URL.
const LISTENING: &str = "listening on http://";

/// Flags of `sse-load compare`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub workload: Workload,
    /// The livenames server binary, built with `cargo build --release -p server`.
    #[arg(long, default_value = "target/release/server")]
    pub server: PathBuf,
    /// New connections per second at most.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub ramp_per_sec: u64,
    /// Loopback source addresses to spread connections over.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=254))]
    pub source_addrs: u64,
    /// Worker threads of the load tool's runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub threads: u64,
    /// Folder for the servers' logs.
    #[arg(long, default_value = "target/sse-bench")]
    pub log_dir: PathBuf,
}

/// Runs livenames, the baseline and the floor, and returns one JSON object.
pub fn run(options: &Options) -> Result<Value, Error> {
    check_server(&options.server, &options.log_dir)?;
    let load_before = procfs::load_average()?;
    let livenames = livenames_command(&options.server, &options.workload);
    let livenames = measure_server("livenames", livenames, options)?;
    let baseline = measure_server("baseline", baseline_command(options)?, options)?;
    let floor = floor::run(&floor_options(options, &livenames))?;
    let floor = serde_json::to_value(floor).map_err(|err| Error::Io(err.to_string()))?;
    Ok(json!({
        "subscribers": options.workload.subscribers,
        "interval_ms": options.workload.interval_ms,
        "duration_secs": options.workload.duration_secs,
        "load_average_before": load_before,
        "load_average_after": procfs::load_average()?,
        "ratios": ratios(&livenames, &baseline, &floor),
        "livenames": livenames,
        "baseline": baseline,
        "floor": floor,
    }))
}

/// Fails, naming `--server`, unless `server` is a file; creates `log_dir`.
pub(crate) fn check_server(server: &Path, log_dir: &Path) -> Result<(), Error> {
    if !server.is_file() {
        let why = format!(
            "{} is not a file: build it with `cargo build --release -p server`",
            server.display()
        );
        return Err(Error::Flag { flag: "--server", why });
    }
    std::fs::create_dir_all(log_dir)
        .map_err(|err| Error::Io(format!("creating --log-dir {}: {err}", log_dir.display())))
}

/// The livenames server on a free loopback port, allowed more streams than the run opens.
pub(crate) fn livenames_command(server_path: &Path, workload: &Workload) -> Command {
    let mut server = command(server_path);
    let max_connections = (workload.subscribers + 1000).max(10_000);
    server.args(["--addr", "127.0.0.1:0", "--interval-ms", &workload.interval_ms.to_string()]);
    server.args(["--max-connections", &max_connections.to_string()]);
    server
}

/// This program's `baseline` on a free loopback port.
fn baseline_command(options: &Options) -> Result<Command, Error> {
    let exe =
        std::env::current_exe().map_err(|err| Error::Io(format!("finding this program: {err}")))?;
    let mut server = command(exe);
    server.args([
        "baseline",
        "--addr",
        "127.0.0.1:0",
        "--interval-ms",
        &options.workload.interval_ms.to_string(),
    ]);
    Ok(server)
}

/// Starts one server, loads it, stops it, and returns the load report.
fn measure_server(name: &str, server: Command, options: &Options) -> Result<Value, Error> {
    let (running, url) = start_server(name, server, &options.log_dir)?;
    let report = run_load(&load_options(options, format!("{url}/sse"), running.pid()))?;
    drop(running);
    Ok(report)
}

/// Starts `server`, logging to `<log_dir>/<name>.log`, and returns it with its base URL
/// once it listens.
pub(crate) fn start_server(
    name: &str,
    mut server: Command,
    log_dir: &Path,
) -> Result<(Running, String), Error> {
    let log_path = log_dir.join(format!("{name}.log"));
    let log = File::create(&log_path)
        .map_err(|err| Error::Io(format!("creating {}: {err}", log_path.display())))?;
    let log_err = log.try_clone().map_err(|err| Error::Io(err.to_string()))?;
    server.stdout(log).stderr(log_err).stdin(Stdio::null());
    let mut running = Running::spawn(name, &mut server)?;
    let url = wait_for_url(&mut running, &log_path)?;
    eprintln!("sse-load: {name} (pid {}) at {url}, log {}", running.pid(), log_path.display());
    Ok((running, url))
}

/// The server's URL, from the line it logs once listening.
fn wait_for_url(server: &mut Running, log: &Path) -> Result<String, Error> {
    let started = Instant::now();
    while started.elapsed() < START_PATIENCE {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(url) = listening_url(&text) {
            return Ok(url);
        }
        if let Some(exit) = server.exited() {
            return Err(Error::Io(format!("{exit} before listening; see {}", log.display())));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Error::Io(format!("no `{LISTENING}` line in {} after {START_PATIENCE:?}", log.display())))
}

/// `http://host:port` from the first line that announces it.
fn listening_url(log: &str) -> Option<String> {
    let start = log.find(LISTENING)?;
    let rest = &log[start + LISTENING.len()..];
    let end = rest.find(|c: char| c.is_whitespace())?;
    Some(format!("http://{}", &rest[..end]))
}

fn load_options(options: &Options, url: String, server_pid: u32) -> load::Options {
    load::Options {
        url,
        subscribers: options.workload.subscribers,
        duration_secs: options.workload.duration_secs,
        ramp_per_sec: options.ramp_per_sec,
        server_pid: Some(server_pid),
        source_addrs: options.source_addrs,
        settle_secs: 2,
        drain_secs: 2,
        connect_timeout_secs: 10,
        threads: options.threads,
    }
}

/// Runs `load` as a child process (its own open-files budget and watchdog) and reads its JSON.
fn run_load(options: &load::Options) -> Result<Value, Error> {
    let exe =
        std::env::current_exe().map_err(|err| Error::Io(format!("finding this program: {err}")))?;
    let output = command(exe)
        .args(options.to_args())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| Error::Io(format!("running load: {err}")))?;
    if !output.status.success() {
        return Err(Error::Io(format!("load against {} failed: {}", options.url, output.status)));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|err| Error::Io(format!("reading load's JSON: {err}")))
}

/// The floor at the same size and rate, with livenames' mean bytes per event (500 if
/// unknown), one writer thread per core as livenames has.
fn floor_options(options: &Options, livenames: &Value) -> floor::Options {
    let bytes = livenames.pointer("/fan_out/mean_event_bytes").and_then(Value::as_f64);
    floor::Options {
        workload: options.workload.clone(),
        bytes: bytes.map_or(500, |bytes| bytes.round() as u64).max(floor::MIN_BYTES),
        writer_threads: None,
    }
}

/// livenames against the baseline and the floor, in the terms of the targets.
fn ratios(livenames: &Value, baseline: &Value, floor: &Value) -> Value {
    let figure = |report: &Value, pointer: &str| report.pointer(pointer).and_then(Value::as_f64);
    let versus_baseline =
        |pointer: &str| ratio_of(figure(livenames, pointer), figure(baseline, pointer));
    let cpu = "/server/cpu_secs_per_million_deliveries";
    let floor_cpu = figure(floor, "/cpu_secs_per_million_writes");
    json!({
        "rss_growth_per_subscriber_livenames_over_baseline": versus_baseline("/server/rss_growth_per_subscriber_bytes"),
        "cpu_per_million_livenames_over_baseline": versus_baseline(cpu),
        "cpu_per_million_livenames_over_floor": ratio_of(figure(livenames, cpu), floor_cpu),
        "cpu_per_million_baseline_over_floor": ratio_of(figure(baseline, cpu), floor_cpu),
        "latency_p50_livenames_over_baseline": versus_baseline("/latency_ms/p50"),
        "latency_p99_livenames_over_baseline": versus_baseline("/latency_ms/p99"),
        "latency_p99_livenames_over_floor": ratio_of(figure(livenames, "/latency_ms/p99"), figure(floor, "/latency_ms/p99")),
    })
}

/// `numerator / denominator`, when both are known and the denominator is not zero.
fn ratio_of(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d != 0.0 => Some(n / d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_url_in_either_servers_log() {
        let livenames =
            "2026-11-24T10:00:00.000Z  INFO server: listening on http://127.0.0.1:41234\n";
        assert_eq!(listening_url(livenames).as_deref(), Some("http://127.0.0.1:41234"));
        assert_eq!(
            listening_url("listening on http://127.0.0.1:5\n").as_deref(),
            Some("http://127.0.0.1:5")
        );
        assert_eq!(listening_url("starting\n"), None);
        assert_eq!(listening_url("listening on http://127.0.0.1:5"), None, "line not complete yet");
    }

    #[test]
    fn ratios_need_both_figures() {
        assert_eq!(ratio_of(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio_of(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio_of(None, Some(2.0)), None);
    }
}
