//! The subscribers' side of every run, under `load` and `soak` (and `compare` and `nginx`,
//! through `load`): the flags they share ([`ClientOptions`]), the run's subscribers
//! ([`Clients`]), one subscriber's life ([`subscriber`]), opening many at a bounded pace
//! ([`ramp`]), the parser they read with ([`sse`]), what they count into ([`tally`]), the
//! loopback-only target ([`target`]), and a peer that floods its stream ([`flood`]).

pub mod flood;
pub mod ramp;
pub mod sse;
pub mod subscriber;
pub mod tally;
pub mod target;

use crate::Error;
use http::uri::PathAndQuery;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use subscriber::Subscriber;
use tally::Tally;
use target::{Target, source_addr};

/// Extra time the watchdog allows past the planned end of the run.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(30);

/// How the subscribers connect: the flags `load`, `soak`, `compare` and `nginx` share.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct ClientOptions {
    /// Open each stream on a connection that has served an ordinary request first, as
    /// browsers and proxies with upstream keep-alive do: `GET --warm-up-path`, its response
    /// read whole, then `GET` of the stream on the same connection. Without it, the stream
    /// is each connection's first request. `compare` measures each server both ways with
    /// it, side by side, and on fresh connections only without it.
    #[arg(long)]
    pub reuse_connection: bool,
    /// The ordinary request `--reuse-connection` sends first on each connection: a path
    /// (and query) on the target's server.
    #[arg(long, default_value = "/healthz", value_parser = warm_up_path)]
    pub warm_up_path: PathAndQuery,
    /// New connections per second at most.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub ramp_per_sec: u64,
    /// Loopback source addresses to spread connections over: 127.0.0.1, 127.0.0.2, …
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=254))]
    pub source_addrs: u64,
    /// Seconds to wait once the subscribers have connected before measuring, and once they
    /// have all left (and the server has closed its ends) before reading its RSS again.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub settle_secs: u64,
    /// Seconds a subscriber may wait for its response head before it counts as failed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout_secs: u64,
    /// Worker threads of the load tool's own runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub threads: u64,
}

impl ClientOptions {
    /// These flags as command-line arguments, for a child process that takes them too.
    pub fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            ("ramp-per-sec", self.ramp_per_sec),
            ("source-addrs", self.source_addrs),
            ("settle-secs", self.settle_secs),
            ("connect-timeout-secs", self.connect_timeout_secs),
            ("threads", self.threads),
        ]
        .into_iter()
        .flat_map(|(name, value)| [format!("--{name}"), value.to_string()])
        .collect();
        args.extend(["--warm-up-path".to_owned(), self.warm_up_path.to_string()]);
        if self.reuse_connection {
            args.push("--reuse-connection".to_owned());
        }
        args
    }

    /// These options with `--reuse-connection` set to `reuse`.
    pub fn reusing(&self, reuse: bool) -> Self {
        Self { reuse_connection: reuse, ..self.clone() }
    }

    /// The request each subscriber sends before its stream, if any.
    pub fn warm_up(&self) -> Option<PathAndQuery> {
        self.reuse_connection.then(|| self.warm_up_path.clone())
    }

    /// How long a subscriber may take to connect.
    pub fn patience(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    /// How long subscribers and server settle after connecting and after leaving.
    pub fn settle(&self) -> Duration {
        Duration::from_secs(self.settle_secs)
    }

    /// The longest a ramp of `subscribers` can take: the pace, then the last one's patience.
    pub fn ramp_limit(&self, subscribers: u64) -> Duration {
        Duration::from_secs(subscribers.div_ceil(self.ramp_per_sec) + self.connect_timeout_secs)
    }

    /// Runs `work`, which opens up to `subscribers` connections, on the tool's own runtime of
    /// `--threads` workers, once the open-files limit is known to hold them; a watchdog ends
    /// the process if the run is still going a margin after `deadline`, whatever it is
    /// waiting for (a server that hangs mid-handshake, say).
    pub fn block_on<T>(
        &self,
        subscribers: u64,
        deadline: Duration,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        crate::open_files_for(subscribers, "--subscribers")?;
        start_watchdog(deadline + WATCHDOG_MARGIN);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.threads as usize)
            .enable_all()
            .build()
            .map_err(|err| Error::Io(format!("starting the runtime: {err}")))?;
        let result = runtime.block_on(work);
        // Closing thousands of sockets need not hold up the report.
        runtime.shutdown_background();
        result
    }
}

/// `--warm-up-path`: a path with an optional query, as a request line carries it.
fn warm_up_path(text: &str) -> Result<PathAndQuery, String> {
    let path: PathAndQuery = text.parse().map_err(|err| format!("not a path: {err}"))?;
    if !path.path().starts_with('/') {
        return Err(format!("must start with /, not {text:?}"));
    }
    Ok(path)
}

/// Exits the process if the run is still going at `deadline`.
fn start_watchdog(deadline: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!("sse-load: watchdog: the run passed its deadline of {deadline:?}; exiting");
        std::process::exit(3);
    });
}

/// The subscribers of one run: the target they connect to and the tally they share.
/// Cheap to clone.
#[derive(Clone)]
pub struct Clients {
    target: Arc<Target>,
    tally: Arc<Mutex<Tally>>,
    options: ClientOptions,
    /// How many hubs the subscribers are spread over (see [`Clients::spread_over`]).
    hubs: u64,
}

impl Clients {
    /// No subscriber yet, to open against `target` as `options` say.
    pub fn new(target: Target, options: &ClientOptions) -> Self {
        let tally = Arc::new(Mutex::new(Tally::default()));
        Self { target: Arc::new(target), tally, options: options.clone(), hubs: 1 }
    }

    /// These subscribers spread round-robin over `hubs` hubs: the `index`-th opens the
    /// target's path with `{hub}` replaced by `index mod hubs`, and the tally counts an
    /// event as received by all once every subscriber of its hub got it.
    pub fn spread_over(mut self, hubs: u64) -> Self {
        self.hubs = hubs.max(1);
        lock(&self.tally).spread_over(self.hubs);
        self
    }

    /// The target they connect to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The target, shared.
    pub fn target_arc(&self) -> Arc<Target> {
        self.target.clone()
    }

    /// The tally, locked.
    pub fn tally(&self) -> MutexGuard<'_, Tally> {
        lock(&self.tally)
    }

    /// The `index`-th subscriber of the run (which picks its source address), resuming
    /// after `resume_from` if given.
    pub fn subscriber(&self, index: u64, resume_from: Option<String>) -> Subscriber {
        Subscriber {
            target: self.target.for_hub(index % self.hubs),
            tally: self.tally.clone(),
            source: source_addr(index as usize, self.options.source_addrs as usize),
            resume_from,
            patience: self.options.patience(),
            warm_up: self.options.warm_up(),
        }
    }

    /// Calls `start` for each of `wanted` subscribers at `--ramp-per-sec` at most, then
    /// waits until each has connected or failed (see [`ramp::ramp`]).
    pub async fn ramp(&self, wanted: u64, start: impl FnMut(u64)) {
        let (per_sec, patience) = (self.options.ramp_per_sec, self.options.patience());
        ramp::ramp(wanted, per_sec, patience, &self.tally, start).await;
    }
}

/// The tally, even if a subscriber panicked while holding it (its counts are still sound).
fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        client: ClientOptions,
    }

    #[test]
    fn the_flags_survive_the_trip_to_a_child_process() {
        let client = ClientOptions {
            reuse_connection: true,
            warm_up_path: PathAndQuery::from_static("/healthz?probe=1"),
            ramp_per_sec: 250,
            source_addrs: 16,
            settle_secs: 0,
            connect_timeout_secs: 7,
            threads: 3,
        };
        let args = std::iter::once("sse-load".to_owned()).chain(client.to_args());
        assert_eq!(Flags::try_parse_from(args).unwrap().client, client);
        let fresh = client.reusing(false);
        let args = std::iter::once("sse-load".to_owned()).chain(fresh.to_args());
        assert_eq!(Flags::try_parse_from(args).unwrap().client, fresh);
    }

    #[test]
    fn the_warm_up_is_sent_only_when_connections_are_reused() {
        let fresh = Flags::try_parse_from(["sse-load"]).unwrap().client;
        assert_eq!(fresh.warm_up(), None);
        let reused = Flags::try_parse_from(["sse-load", "--reuse-connection"]).unwrap().client;
        assert_eq!(reused.warm_up().unwrap(), "/healthz");
        for bad in ["healthz", "http://127.0.0.1/healthz", "/a b"] {
            let args = ["sse-load", "--reuse-connection", "--warm-up-path", bad];
            let err = Flags::try_parse_from(args).unwrap_err().to_string();
            assert!(err.contains("--warm-up-path"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_ramp_may_take_its_pace_and_then_the_last_ones_patience() {
        let client = Flags::try_parse_from(["sse-load", "--ramp-per-sec", "300"]).unwrap().client;
        assert_eq!(client.ramp_limit(1000), Duration::from_secs(4 + 10));
        assert_eq!(client.ramp_limit(300), Duration::from_secs(1 + 10));
    }
}
