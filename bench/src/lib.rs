//! SSE fan-out benchmarks for livenames, all run from one binary, `sse-load`. Each command
//! is a leaf over two shared bottoms: the subscribers' side ([`client`]) and the servers'
//! side ([`servers`]).
//!
//! ```text
//! leaf       what it stands on
//! load       client (subscribers, ramp, tally), servers::usage
//! soak       client, servers (starts livenames, reads its usage)
//! compare    servers (starts livenames, then the baseline), load (as a child), floor
//! floor      its own sockets and readers (a child); client::tally for the latency
//! baseline   axum alone: the plain server compare measures livenames against
//! ```
//! - [`load`]: N loopback subscribers, fan-out completeness, latency, the server's RSS and CPU.
//! - [`soak`]: N subscribers joining and leaving for minutes; event order per connection
//!   and the server's RSS before, during and after.
//! - [`floor`]: the same bytes written to as many sockets with blocking `write()`.
//! - [`compare`]: starts both servers, runs `load` on each and `floor`, prints the ratios.
//! - [`baseline`]: a plain axum SSE server (`broadcast` → `BroadcastStream` → `Sse`).
//! - [`client`]: the client flags every command shares, one subscriber, the ramp, the SSE
//!   parser, the tally, the loopback-only target.
//! - [`servers`]: launching a server, waiting until it listens, its usage while loaded.
//! - [`procfs`], [`child`]: `/proc` readings, and child processes that never outlive the run.

pub mod baseline;
pub mod child;
pub mod client;
pub mod compare;
pub mod floor;
pub mod load;
pub mod procfs;
pub mod servers;
pub mod soak;

/// How many subscribers, how often an event, for how long: the shape of a run, shared by
/// `floor` and `compare` so that both measure the same thing.
#[derive(Clone, Debug, clap::Args)]
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
