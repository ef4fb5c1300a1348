//! The headline figures of a run, in the terms the issues' targets are stated in: memory per
//! subscriber, CPU per million deliveries, latency, and whether every subscriber got every
//! event. `compare` and `nginx` put them side by side, and divide them by one another.

use crate::client::tally::Latency;
use crate::{floor, load};
use serde::Serialize;

/// One server's (or the floor's) headline figures; each `None` when the run has no such
/// figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// RSS growth from before connecting to connected, per open stream.
    pub rss_growth_per_subscriber_bytes: Option<f64>,
    /// Server CPU over the window per million deliveries (for the floor: per million writes).
    pub cpu_secs_per_million_deliveries: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// The stream that ran furthest behind: its median delay (see [`StreamLag`](crate::client::tally::StreamLag)).
    pub max_stream_p50_ms: Option<f64>,
    /// Streams whose median delay was over a second.
    pub streams_p50_over_1s: Option<u64>,
    /// Every subscriber connected and received every event of the window; `None` for the
    /// floor, whose readers count no events.
    pub every_subscriber_got_every_event: Option<bool>,
    /// Seconds of the window the load tool waited, runnable, for a CPU: when this is large,
    /// the latency and stream lag above are the tool's, not the server's.
    pub load_tool_cpu_wait_secs: Option<f64>,
}

impl Figures {
    /// The server's figures in a `load` report.
    pub fn of_server(report: &load::Report) -> Self {
        Self::of_cost(report, report.server.as_ref())
    }

    /// The proxy's figures in a `load` report (the latency and completeness are the
    /// subscribers', end to end).
    pub fn of_proxy(report: &load::Report) -> Self {
        Self::of_cost(report, report.proxy.as_ref())
    }

    fn of_cost(report: &load::Report, cost: Option<&load::ServerCost>) -> Self {
        let latency = report.received.latency_ms.as_ref();
        let lag = report.received.stream_lag.as_ref();
        Self {
            rss_growth_per_subscriber_bytes: cost
                .and_then(|cost| cost.rss_growth_per_subscriber_bytes),
            cpu_secs_per_million_deliveries: cost
                .and_then(|cost| cost.cpu_secs_per_million_deliveries),
            latency_p50_ms: latency.map(|latency| latency.p50),
            latency_p99_ms: latency.map(|latency| latency.p99),
            max_stream_p50_ms: lag.map(|lag| lag.max_stream_p50_ms),
            streams_p50_over_1s: lag.map(|lag| lag.streams_p50_over_1s),
            every_subscriber_got_every_event: Some(report.every_subscriber_got_every_event()),
            load_tool_cpu_wait_secs: Some(report.load_tool.cpu_wait_secs_in_window),
        }
    }

    /// The floor's figures.
    pub fn of_floor(report: &floor::Report) -> Self {
        let latency = report.latency_ms.as_ref();
        Self {
            rss_growth_per_subscriber_bytes: None,
            cpu_secs_per_million_deliveries: Some(report.cpu_secs_per_million_writes),
            latency_p50_ms: latency.map(|latency: &Latency| latency.p50),
            latency_p99_ms: latency.map(|latency| latency.p99),
            max_stream_p50_ms: None,
            streams_p50_over_1s: None,
            every_subscriber_got_every_event: None,
            load_tool_cpu_wait_secs: None,
        }
    }

    /// These figures over `other`'s, figure by figure.
    pub fn over(&self, other: &Self) -> Quotients {
        Quotients {
            rss_growth_per_subscriber: ratio(
                self.rss_growth_per_subscriber_bytes,
                other.rss_growth_per_subscriber_bytes,
            ),
            cpu_per_million: ratio(
                self.cpu_secs_per_million_deliveries,
                other.cpu_secs_per_million_deliveries,
            ),
            latency_p50: ratio(self.latency_p50_ms, other.latency_p50_ms),
            latency_p99: ratio(self.latency_p99_ms, other.latency_p99_ms),
        }
    }
}

/// One set of [`Figures`] over another; each `None` when a figure is missing or its
/// denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quotients {
    pub rss_growth_per_subscriber: Option<f64>,
    pub cpu_per_million: Option<f64>,
    pub latency_p50: Option<f64>,
    pub latency_p99: Option<f64>,
}

/// `numerator / denominator`, when both are known and the denominator is not zero.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d != 0.0 => Some(n / d),
        _ => None,
    }
}
