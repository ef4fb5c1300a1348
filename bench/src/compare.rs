//! `sse-load compare`: the whole comparison in one command. Starts the livenames release
//! server and the baseline in turn (never both at once, so neither steals the other's CPU),
//! runs `load` against each as a child process (with `--reuse-connection`, twice: on fresh
//! connections, then on reused ones, each against a server started afresh), runs `floor`
//! with livenames' bytes per event, and prints every report with the figures side by side
//! and the ratios the targets are stated in.

use crate::figures::{Figures, Quotients};
use crate::servers;
use crate::{Conditions, Error, Measurement, Workload, floor, load, procfs};
use serde::Serialize;
use std::process::Command;

/// Flags of `sse-load compare`.
pub type Options = Measurement;

/// Every figure of a comparison, printed as one JSON object. The `…_reused` keys are `null`
/// without `--reuse-connection`; the others are the fresh connections' figures.
#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub conditions: Conditions,
    pub side_by_side: SideBySide,
    pub ratios: Ratios,
    pub ratios_reused: Option<Ratios>,
    pub livenames: load::Report,
    pub livenames_reused: Option<load::Report>,
    pub baseline: load::Report,
    pub baseline_reused: Option<load::Report>,
    pub floor: floor::Report,
}

/// The headline figures of every run, one beside the other.
#[derive(Debug, PartialEq, Serialize)]
pub struct SideBySide {
    pub livenames_fresh: Figures,
    pub livenames_reused: Option<Figures>,
    pub baseline_fresh: Figures,
    pub baseline_reused: Option<Figures>,
    pub floor: Figures,
    /// The targets ask livenames for CPU within 1.15 of fresh on reused connections.
    pub livenames_reused_over_fresh: Option<Quotients>,
    pub baseline_reused_over_fresh: Option<Quotients>,
}

impl SideBySide {
    /// The figures of both servers' runs and the floor's.
    fn of(livenames: &Runs, baseline: &Runs, floor: &floor::Report) -> Self {
        let (livenames, baseline) = (livenames.figures(), baseline.figures());
        Self {
            livenames_reused_over_fresh: livenames
                .1
                .as_ref()
                .map(|reused| reused.over(&livenames.0)),
            baseline_reused_over_fresh: baseline.1.as_ref().map(|reused| reused.over(&baseline.0)),
            livenames_fresh: livenames.0,
            livenames_reused: livenames.1,
            baseline_fresh: baseline.0,
            baseline_reused: baseline.1,
            floor: Figures::of_floor(floor),
        }
    }
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
    pub fn of(livenames: &Figures, baseline: &Figures, floor: &Figures) -> Self {
        let over_baseline = livenames.over(baseline);
        let over_floor = livenames.over(floor);
        Self {
            rss_growth_per_subscriber_livenames_over_baseline: over_baseline
                .rss_growth_per_subscriber,
            cpu_per_million_livenames_over_baseline: over_baseline.cpu_per_million,
            cpu_per_million_livenames_over_floor: over_floor.cpu_per_million,
            cpu_per_million_baseline_over_floor: baseline.over(floor).cpu_per_million,
            latency_p50_livenames_over_baseline: over_baseline.latency_p50,
            latency_p99_livenames_over_baseline: over_baseline.latency_p99,
            latency_p99_livenames_over_floor: over_floor.latency_p99,
        }
    }
}

/// One server's load reports: on fresh connections, and on reused ones if asked.
struct Runs {
    fresh: load::Report,
    reused: Option<load::Report>,
}

impl Runs {
    /// Measures the server `start` makes, on fresh connections and, with
    /// `--reuse-connection`, on reused ones, each against a server started afresh.
    fn measure(
        name: &str,
        start: impl Fn() -> Result<Command, Error>,
        options: &Options,
    ) -> Result<Self, Error> {
        let fresh = measure_server(name, start()?, options, false)?;
        let reused = match options.client.reuse_connection {
            true => Some(measure_server(&format!("{name}-reused"), start()?, options, true)?),
            false => None,
        };
        Ok(Self { fresh, reused })
    }

    fn figures(&self) -> (Figures, Option<Figures>) {
        (Figures::of_server(&self.fresh), self.reused.as_ref().map(Figures::of_server))
    }
}

/// Runs livenames, the baseline and the floor, and returns every report with the ratios.
pub fn run(options: &Options) -> Result<Report, Error> {
    options.servers.check()?;
    let load_before = procfs::load_average()?;
    let workload = &options.workload;
    let livenames = Runs::measure(
        "livenames",
        || Ok(options.servers.livenames(workload.subscribers, workload.interval_ms)),
        options,
    )?;
    let baseline = Runs::measure("baseline", || servers::baseline(workload.interval_ms), options)?;
    let floor = floor::run(&floor_options(workload, &livenames.fresh))?;
    let side_by_side = SideBySide::of(&livenames, &baseline, &floor);
    let ratios_reused = match (&side_by_side.livenames_reused, &side_by_side.baseline_reused) {
        (Some(livenames), Some(baseline)) => {
            Some(Ratios::of(livenames, baseline, &side_by_side.floor))
        }
        _ => None,
    };
    Ok(Report {
        conditions: Conditions::of(options, load_before)?,
        ratios: Ratios::of(
            &side_by_side.livenames_fresh,
            &side_by_side.baseline_fresh,
            &side_by_side.floor,
        ),
        ratios_reused,
        side_by_side,
        livenames: livenames.fresh,
        livenames_reused: livenames.reused,
        baseline: baseline.fresh,
        baseline_reused: baseline.reused,
        floor,
    })
}

/// Starts one server, loads it (on reused connections if `reuse`), stops it, and returns
/// the load report.
fn measure_server(
    name: &str,
    server: Command,
    options: &Options,
    reuse: bool,
) -> Result<load::Report, Error> {
    let server = options.servers.start(name, server)?;
    let client = options.client.reusing(reuse);
    let load =
        load::Options::of_workload(server.sse_url(), &options.workload, server.pid(), client);
    let report = load::run_as_child(&load)?;
    drop(server);
    Ok(report)
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
    use crate::client::tally::Latency;

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

    /// The ratios of three reports' figures.
    fn ratios(livenames: &load::Report, baseline: &load::Report, floor: &floor::Report) -> Ratios {
        let (livenames, baseline) = (Figures::of_server(livenames), Figures::of_server(baseline));
        Ratios::of(&livenames, &baseline, &Figures::of_floor(floor))
    }

    #[test]
    fn ratios_come_from_the_reports_figures() {
        let livenames = load_report(500.0, Some(30.0), 2.0, 8.0);
        let baseline = load_report(20_000.0, Some(40.0), 4.0, 16.0);
        let ratios = ratios(&livenames, &baseline, &floor_report(20.0, 4.0));
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
        let ratios = ratios(&livenames, &baseline, &floor_report(0.0, 4.0));
        assert_eq!(ratios.rss_growth_per_subscriber_livenames_over_baseline, None);
        assert_eq!(ratios.cpu_per_million_livenames_over_baseline, None);
        assert_eq!(ratios.cpu_per_million_baseline_over_floor, None);
        assert_eq!(ratios.latency_p99_livenames_over_baseline, None);
        assert_eq!(ratios.latency_p99_livenames_over_floor, Some(2.0));
    }

    #[test]
    fn fresh_and_reused_runs_stand_side_by_side() {
        let livenames = Runs {
            fresh: load_report(500.0, Some(10.0), 2.0, 8.0),
            reused: Some(load_report(1000.0, Some(11.0), 2.0, 16.0)),
        };
        let mut baseline_fresh = load_report(20_000.0, Some(12.0), 4.0, 16.0);
        baseline_fresh.received.failed = 1;
        let baseline = Runs { fresh: baseline_fresh, reused: None };
        let side = SideBySide::of(&livenames, &baseline, &floor_report(5.0, 4.0));
        assert_eq!(side.livenames_fresh.rss_growth_per_subscriber_bytes, Some(500.0));
        assert_eq!(side.livenames_reused.as_ref().unwrap().latency_p99_ms, Some(16.0));
        assert_eq!(side.livenames_fresh.every_subscriber_got_every_event, Some(true));
        assert_eq!(
            side.baseline_fresh.every_subscriber_got_every_event,
            Some(false),
            "one subscriber failed"
        );
        assert_eq!((side.baseline_reused, side.baseline_reused_over_fresh), (None, None));
        assert_eq!(side.floor.cpu_secs_per_million_deliveries, Some(5.0));
        assert_eq!(side.floor.every_subscriber_got_every_event, None);
        let reused_over_fresh = side.livenames_reused_over_fresh.unwrap();
        assert_eq!(reused_over_fresh.rss_growth_per_subscriber, Some(2.0));
        assert_eq!(reused_over_fresh.latency_p99, Some(2.0));
        assert!((reused_over_fresh.cpu_per_million.unwrap() - 1.1).abs() < 1e-9);
    }
}
