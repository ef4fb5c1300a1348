//! SSE fan-out benchmarks for livenames, all run from one binary, `sse-load`:
//!
//! ```text
//! load ──► GET /sse × N ──► livenames or baseline      floor: write() × N, nothing else
//!                 └──── compare runs all three and prints the ratios
//! soak ──► GET /sse × N, some replaced every second for minutes ──► livenames (or any)
//! ```
//! - [`load`]: N loopback subscribers, fan-out completeness, latency, the server's RSS and CPU.
//! - [`tally`]: what the subscribers received, counted per event id.
//! - [`sse`]: the incremental event-stream parser the subscribers read with.
//! - [`baseline`]: a plain axum SSE server (`broadcast` → `BroadcastStream` → `Sse`).
//! - [`floor`]: the same bytes written to as many sockets with blocking `write()`.
//! - [`compare`]: starts both servers, runs `load` on each and `floor`, prints ratios.
//! - [`soak`]: N subscribers joining and leaving for minutes; event order per connection
//!   and the server's RSS before, during and after.
//! - [`target`], [`procfs`], [`child`]: the loopback-only URL check, `/proc` readings, and
//!   child processes that never outlive the run.

pub mod baseline;
pub mod child;
pub mod compare;
pub mod floor;
pub mod load;
pub mod procfs;
pub mod soak;
pub mod sse;
pub mod tally;
pub mod target;

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
}

/// Raises this process's soft open-files limit to the hard limit; returns the new limit.
pub fn raise_open_files_limit() -> Result<u64, Error> {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map_err(|err| Error::Io(format!("reading the open-files limit: {err}")))?;
    rlimit::increase_nofile_limit(hard)
        .map_err(|err| Error::Io(format!("raising the open-files limit: {err}")))
}

/// Raises the open-files limit and fails, naming `flag`, when `needed` descriptors would
/// not fit under it.
pub fn open_files_for(needed: u64, flag: &'static str) -> Result<(), Error> {
    let limit = raise_open_files_limit()?;
    if needed > limit {
        let why = format!("needs {needed} open files, over this process's limit of {limit}");
        return Err(Error::Flag { flag, why });
    }
    Ok(())
}
