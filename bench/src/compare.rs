//! `sse-load compare`: the whole comparison in one command. Starts the livenames release
//! server and the baseline in turn (never both at once, so neither steals the other's CPU),
//! runs `load` against each as a child process, runs `floor` with livenames' bytes per
//! event, and prints every report with the ratios the targets are stated in.

use crate::child::this_program;
use crate::client::ClientOptions;
use crate::client::tally::Latency;
use crate::servers::{self, ServerOptions};
use crate::{Error, Workload, floor, load, procfs};
use serde::Serialize;
use std::process::{Command, Stdio};

/// Flags of `sse-load compare`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub workload: Workload,
    #[command(flatten)]
    pub servers: ServerOptions,
    #[command(flatten)]
    pub client: ClientOptions,
}

/// Every figure of a comparison, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct Report {
    pub subscribers: u64,
    pub interval_ms: u64,
    pub duration_secs: u64,
    pub load_average_before: String,
    pub load_average_after: String,
    pub ratios: Ratios,
    pub livenames: load::Report,
    pub baseline: load::Report,
    pub floor: floor::Report,
}

/// livenames against the baseline and the floor, in the terms of the targets; each
/// `None` when a figure is missing or its denominator is zero.
#[derive(Debug, PartialEq, Serialize)]
pub struct Ratios {
    pub rss_growth_per_subscriber_livenames_over_baseline: Option<f64>,
    pub cpu_per_million_livenames_over_baseline: Option<f64>,
    pub cpu_per_million_livenames_over_floor: Option<f64>,
    pub cpu_per_million_baseline_over_floor: Option<f64>,
    pub latency_p50_livenames_over_baseline: Option<f64>,
    pub latency_p99_livenames_over_baseline: Option<f64>,
    pub latency_p99_livenames_over_floor: Option<f64>,
}

impl Ratios {
    /// The ratios of `livenames`' figures to the `baseline`'s and the `floor`'s.
    pub fn of(livenames: &load::Report, baseline: &load::Report, floor: &floor::Report) -> Self {
        let rss = |report: &load::Report| server(report, |s| s.rss_growth_per_subscriber_bytes);
        let cpu = |report: &load::Report| server(report, |s| s.cpu_secs_per_million_deliveries);
        let p50 = |report: &load::Report| latency(&report.received.latency_ms, |l| l.p50);
        let p99 = |report: &load::Report| latency(&report.received.latency_ms, |l| l.p99);
        let floor_cpu = Some(floor.cpu_secs_per_million_writes);
        Self {
            rss_growth_per_subscriber_livenames_over_baseline: ratio(rss(livenames), rss(baseline)),
            cpu_per_million_livenames_over_baseline: ratio(cpu(livenames), cpu(baseline)),
            cpu_per_million_livenames_over_floor: ratio(cpu(livenames), floor_cpu),
            cpu_per_million_baseline_over_floor: ratio(cpu(baseline), floor_cpu),
            latency_p50_livenames_over_baseline: ratio(p50(livenames), p50(baseline)),
            latency_p99_livenames_over_baseline: ratio(p99(livenames), p99(baseline)),
            latency_p99_livenames_over_floor: ratio(
                p99(livenames),
                latency(&floor.latency_ms, |l| l.p99),
            ),
        }
    }
}

/// A figure of the server's cost, when the report has one.
fn server(report: &load::Report, figure: fn(&load::ServerCost) -> Option<f64>) -> Option<f64> {
    report.server.as_ref().and_then(figure)
}

/// A latency figure, when there is a latency.
fn latency(latency: &Option<Latency>, figure: fn(&Latency) -> f64) -> Option<f64> {
    latency.as_ref().map(figure)
}

/// `numerator / denominator`, when both are known and the denominator is not zero.
fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d != 0.0 => Some(n / d),
        _ => None,
    }
}

/// Runs livenames, the baseline and the floor, and returns every report with the ratios.
pub fn run(options: &Options) -> Result<Report, Error> {
    options.servers.check()?;
    let load_before = procfs::load_average()?;
    let workload = &options.workload;
    let livenames = options.servers.livenames(workload.subscribers, workload.interval_ms);
    let livenames = measure_server("livenames", livenames, options)?;
    let baseline = servers::baseline(workload.interval_ms)?;
    let baseline = measure_server("baseline", baseline, options)?;
    let floor = floor::run(&floor_options(workload, &livenames))?;
    Ok(Report {
        subscribers: workload.subscribers,
        interval_ms: workload.interval_ms,
        duration_secs: workload.duration_secs,
        load_average_before: load_before,
        load_average_after: procfs::load_average()?,
        ratios: Ratios::of(&livenames, &baseline, &floor),
        livenames,
        baseline,
        floor,
    })
}

/// Starts one server, loads it, stops it, and returns the load report.
fn measure_server(name: &str, server: Command, options: &Options) -> Result<load::Report, Error> {
    let server = options.servers.start(name, server)?;
    let load = load::Options {
        url: server.sse_url(),
        subscribers: options.workload.subscribers,
        duration_secs: options.workload.duration_secs,
        server_pid: Some(server.pid()),
        drain_secs: 2,
        client: options.client.clone(),
    };
    let report = run_load(&load)?;
    drop(server);
    Ok(report)
}

/// Runs `load` as a child process (its own open-files budget and watchdog) and reads its
/// report.
fn run_load(options: &load::Options) -> Result<load::Report, Error> {
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

/// The floor at the same size and rate, with livenames' mean bytes per event (500 if
/// unknown), one writer thread per core as livenames has.
fn floor_options(workload: &Workload, livenames: &load::Report) -> floor::Options {
    let bytes = livenames.received.fan_out.as_ref().map(|fan_out| fan_out.mean_event_bytes);
    floor::Options {
        workload: workload.clone(),
        bytes: bytes.map_or(500, |bytes| bytes.round() as u64).max(floor::MIN_BYTES),
        writer_threads: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load report as `load` prints it, with the figures the ratios read.
    fn load_report(rss_growth: f64, cpu: Option<f64>, p50: f64, p99: f64) -> load::Report {
        let text = serde_json::json!({
            "url": "http://127.0.0.1:9/sse", "subscribers_requested": 10, "ramp_secs": 0.1,
            "window_secs": 3.0, "connected": 10, "failed": 0, "streams_ended": 0,
            "reasons": {}, "data_events_received": 40, "named_events_received": {"ping": 1},
            "comments_received": 0, "unreadable_events": 0,
            "fan_out": {
                "subscribers_at_window_start": 10, "streams_ended_since_window_start": 0,
                "events": 3, "events_missing_between_first_and_last": 0,
                "events_received_by_all": 3, "min_receivers": 10, "max_receivers": 10,
                "deliveries": 30, "mean_event_bytes": 425.4
            },
            "latency_ms": {"count": 30, "p50": p50, "p90": p99, "p99": p99, "max": p99},
            "deliveries_per_sec": 10.0,
            "server": {
                "pid": 42, "rss_before_bytes": 1000, "rss_connected_bytes": 2000,
                "rss_after_window_bytes": 2000, "open_files": [10, 20, 10],
                "rss_after_leaving_bytes": 1100, "rss_after_leaving_over_before": 1.1,
                "rss_growth_per_subscriber_bytes": rss_growth, "cpu_secs_in_window": 0.5,
                "cpu_secs_per_million_deliveries": cpu
            },
            "load_tool": {"threads": 1, "cpu_secs": 1.0, "cpu_secs_in_window": 0.2, "max_rss_bytes": 1}
        });
        serde_json::from_value(text).expect("a report as load prints it reads back")
    }

    fn floor_report(cpu: f64, p99: f64) -> floor::Report {
        let latency = Latency { count: 30, p50: p99, p90: p99, p99, max: p99 };
        floor::Report {
            subscribers: 10,
            interval_ms: 100,
            bytes: 425,
            writer_threads: 2,
            writes: 300,
            writer_cpu_secs: cpu * 300.0 / 1e6,
            cpu_secs_per_million_writes: cpu,
            max_round_delay_ms: 0.1,
            latency_ms: Some(latency),
        }
    }

    #[test]
    fn ratios_come_from_the_reports_figures() {
        let livenames = load_report(500.0, Some(30.0), 2.0, 8.0);
        let baseline = load_report(20_000.0, Some(40.0), 4.0, 16.0);
        let ratios = Ratios::of(&livenames, &baseline, &floor_report(20.0, 4.0));
        assert_eq!(
            ratios,
            Ratios {
                rss_growth_per_subscriber_livenames_over_baseline: Some(0.025),
                cpu_per_million_livenames_over_baseline: Some(0.75),
                cpu_per_million_livenames_over_floor: Some(1.5),
                cpu_per_million_baseline_over_floor: Some(2.0),
                latency_p50_livenames_over_baseline: Some(0.5),
                latency_p99_livenames_over_baseline: Some(0.5),
                latency_p99_livenames_over_floor: Some(2.0),
            }
        );
        let workload = Workload { subscribers: 10, interval_ms: 100, duration_secs: 3 };
        let floor = floor_options(&workload, &livenames);
        assert_eq!(floor.bytes, 425, "livenames' mean bytes per event, rounded");
    }

    #[test]
    fn a_missing_figure_or_a_zero_gives_no_ratio() {
        let livenames = load_report(500.0, None, 2.0, 8.0);
        let mut baseline = load_report(0.0, Some(40.0), 4.0, 16.0);
        baseline.received.latency_ms = None;
        let ratios = Ratios::of(&livenames, &baseline, &floor_report(0.0, 4.0));
        assert_eq!(ratios.rss_growth_per_subscriber_livenames_over_baseline, None);
        assert_eq!(ratios.cpu_per_million_livenames_over_baseline, None);
        assert_eq!(ratios.cpu_per_million_baseline_over_floor, None);
        assert_eq!(ratios.latency_p99_livenames_over_baseline, None);
        assert_eq!(ratios.latency_p99_livenames_over_floor, Some(2.0));
    }
}
