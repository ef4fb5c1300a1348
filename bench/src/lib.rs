//! SSE fan-out benchmarks for livenames, all run from one binary, `sse-load`. Each command
//! is a leaf over two shared bottoms: the subscribers' side ([`client`]) and the servers'
//! side ([`servers`]).
//!
//! ```text
//! leaf       what it stands on
//! load       client (subscribers, ramp, tally), servers::usage
//! soak       client, servers (starts livenames, reads its usage)
//! compare    servers (starts livenames, then the baseline), load (as a child), floor, figures
//! nginx      servers (starts livenames, then nginx in front), load (as a child), figures
//! hubs       servers, load (as a child), figures; serves its hubs through sse-lean
//! floor      its own sockets and readers (a child); client::tally for the latency
//! baseline   axum alone: the plain server compare measures livenames against
//! ```
//! - [`load`]: N loopback subscribers, fan-out completeness, latency, the server's RSS and
//!   CPU (and a proxy's in front of it).
//! - [`soak`]: N subscribers joining and leaving for minutes; event order per connection
//!   and the server's RSS before, during and after.
//! - [`floor`]: the same bytes written to as many sockets with blocking `write()`.
//! - [`compare`]: starts both servers, runs `load` on each (on fresh connections, and on
//!   reused ones with `--reuse-connection`) and `floor`, prints the figures side by side.
//! - [`behind_nginx`] (`sse-load nginx`): livenames behind nginx with README.md's
//!   configuration; livenames' cost and nginx's beside it.
//! - [`hubs`]: the same subscribers on one hub, then spread over many hubs of one
//!   `sse_lean::Lean` server; both runs' figures side by side.
//! - [`baseline`]: a plain axum SSE server (`broadcast` → `BroadcastStream` → `Sse`).
//! - [`client`]: the client flags every command shares, one subscriber (its stream on a
//!   fresh or a reused connection), the ramp, the SSE parser, the tally, the loopback-only
//!   target.
//! - [`servers`]: launching a server (and nginx), waiting until it listens, its usage while
//!   loaded.
//! - [`figures`]: a run's headline figures, and one run's over another's.
//! - [`procfs`], [`child`]: `/proc` readings, and child processes that never outlive the run.

pub mod baseline;
pub mod behind_nginx;
pub mod child;
pub mod client;
pub mod compare;
pub mod figures;
pub mod floor;
pub mod hubs;
pub mod load;
pub mod procfs;
pub mod servers;
pub mod soak;

/// How many subscribers, how often an event, for how long: the shape of a run, shared by
/// `floor`, `compare` and `nginx` so that they measure the same thing.
#[derive(Clone, Debug, serde::Serialize, clap::Args)]
pub struct Workload {
    /// Subscribers (for `floor`: sockets written to).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub subscribers: u64,
    /// Milliseconds between two events.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_ms: u64,
    /// Seconds of the measuring window.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration_secs: u64,
}

/// The flags of a command that starts the servers it loads (`compare`, `nginx`): the
/// workload, where the servers come from, how the subscribers connect.
#[derive(Clone, Debug, clap::Args)]
pub struct Measurement {
    #[command(flatten)]
    pub workload: Workload,
    #[command(flatten)]
    pub servers: servers::ServerOptions,
    #[command(flatten)]
    pub client: client::ClientOptions,
}

/// What a report of `compare` or `nginx` opens with: the workload, the machine's load
/// average around the run, and the request that warmed connections up, if any.
#[derive(Debug, serde::Serialize)]
pub struct Conditions {
    #[serde(flatten)]
    pub workload: Workload,
    pub load_average_before: String,
    pub load_average_after: String,
    /// The request each reused connection served before its stream.
    pub warm_up_path: Option<String>,
}

impl Conditions {
    /// The conditions of `measurement`, from before it started to now.
    pub fn of(measurement: &Measurement, load_average_before: String) -> Result<Self, Error> {
        Ok(Self {
            workload: measurement.workload.clone(),
            load_average_before,
            load_average_after: procfs::load_average()?,
            warm_up_path: measurement.client.warm_up().map(|path| path.to_string()),
        })
    }
}

/// What can go wrong in a benchmark run; each message says which flag or step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag's value cannot be used; the text names the flag.
    #[error("{flag} {why}")]
    Flag { flag: &'static str, why: String },
    /// A system call, file or child process failed.
    #[error("{0}")]
    Io(String),
    /// The open-files limit could not be read or raised.
    #[error(transparent)]
    OpenFiles(#[from] open_files::Error),
}

/// Open files kept for what is not a socket: stdio, the runtime, `/proc` reads.
const SPARE_FILES: u64 = 64;

/// Raises the open-files limit and fails, naming `flag`, when `sockets` and the files any
/// process needs besides would not fit under it.
pub fn open_files_for(sockets: u64, flag: &'static str) -> Result<(), Error> {
    let limit = open_files::raise()?.now;
    let needed = sockets + SPARE_FILES;
    if needed > limit {
        let why = format!("needs {needed} open files, over this process's limit of {limit}");
        return Err(Error::Flag { flag, why });
    }
    Ok(())
}
