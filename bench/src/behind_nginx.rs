//! `sse-load nginx`: livenames behind Debian's nginx, configured as README.md tells
//! deployers to (upstream keep-alive, no buffering), the way a production page reaches it.
//! Starts the livenames release server, then nginx in front of it (workers enough for the
//! subscribers), runs `load` through nginx as a child process, and reports livenames' cost
//! per subscriber with nginx's own beside it (its master and workers summed).
//!
//! With `--reuse-connection`, each subscriber's connection to nginx serves the warm-up
//! first; nginx's upstream pool then hands the streams connections to livenames that have
//! served an ordinary request, as it does for a browser loading the page.

use crate::client::target::Target;
use crate::figures::Figures;
use crate::servers::nginx::Nginx;
use crate::{Conditions, Error, Measurement, load, procfs};
use serde::Serialize;
use std::path::PathBuf;

/// Flags of `sse-load nginx`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub measurement: Measurement,
    /// The nginx binary: Debian's, which `make test-tools` installs. Its prefix
    /// (configuration, logs, temporary files) is `<--log-dir>/nginx`, emptied at start.
    #[arg(long, default_value = "/usr/sbin/nginx")]
    pub nginx: PathBuf,
}

/// livenames behind nginx, and what nginx itself cost, as one JSON object.
#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub conditions: Conditions,
    pub nginx_worker_processes: u64,
    /// livenames' cost; the latency and completeness are the subscribers', through nginx.
    pub livenames: Figures,
    /// nginx's own cost, its master and workers summed, per subscriber and per million
    /// deliveries.
    pub nginx: Figures,
    /// The whole `load` report: `server` is livenames, `proxy` nginx.
    pub load: load::Report,
}

/// Starts livenames and nginx in front of it, loads them, stops them, and reports.
pub fn run(options: &Options) -> Result<Report, Error> {
    let Measurement { workload, servers, client } = &options.measurement;
    servers.check()?;
    if !options.nginx.is_file() {
        let why = format!(
            "{} is not a file: `make test-tools` installs Debian's nginx",
            options.nginx.display()
        );
        return Err(Error::Flag { flag: "--nginx", why });
    }
    let load_before = procfs::load_average()?;
    let livenames = servers.livenames(workload.subscribers, workload.interval_ms);
    let livenames = servers.start("livenames-behind-nginx", livenames)?;
    let upstream = Target::parse(&livenames.sse_url())?.addr;
    let prefix = servers.log_dir.join("nginx");
    let nginx = Nginx::start(&options.nginx, &prefix, upstream, workload.subscribers)?;
    let url = format!("{}/sse", nginx.url);
    let load = load::Options {
        proxy_pid: Some(nginx.pid()),
        ..load::Options::of_workload(url, workload, livenames.pid(), client.clone())
    };
    let report = load::run_as_child(&load)?;
    let workers = nginx.workers.processes;
    drop(nginx);
    drop(livenames);
    Ok(Report {
        conditions: Conditions::of(&options.measurement, load_before)?,
        nginx_worker_processes: workers,
        livenames: Figures::of_server(&report),
        nginx: Figures::of_proxy(&report),
        load: report,
    })
}
