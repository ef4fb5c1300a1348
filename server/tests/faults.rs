//! Seeded fault injection against the shared stream (`--redis-url`): a real `redis-server`,
//! three instances of the built binary, each reaching Redis through a partition proxy the
//! test controls, and SSE clients that resume on a random instance with their last id.
//! A nemesis drawn from one seed kills (SIGKILL), stops (SIGTERM), pauses (SIGSTOP) and
//! restarts instances, the leader among them; pauses, empties (restart, `FLUSHALL`) and
//! restarts Redis; drops the lease; cuts or stalls one instance's link to Redis; and
//! strands an instance (paused while the others die and Redis loses its data). Faults
//! overlap. Every frame every client receives is checked against the invariants of
//! `sse_hub`'s Redis module:
//!
//! - (a) an id names one payload, across all clients and instances;
//! - (b) within an epoch a client sees consecutive indices, or a `gap` before a jump, and
//!   never an index at or below one it had; a move to another epoch comes after a `gap`;
//! - (c) an instance's epoch never goes back (polled from `/healthz`).
//!
//! Then every fault is healed, and the fleet must converge: `ok` everywhere, one leader, one
//! epoch, and every client receiving it.
//!
//! The schedule is fixed by the seed; the processes' timing is not, so a seed explores the
//! same faults, not the same interleavings. A failure prints its seed:
//! `LIVENAMES_FAULT_SEED=<seed> cargo test -p server --test faults`. `LIVENAMES_FAULT_SECS`
//! sets how long faults go on (default 60); `make faults` runs several seeds.

#[path = "common/cluster.rs"]
#[allow(dead_code, reason = "this test starts instances only through proxies")]
mod cluster;
#[path = "common/partition.rs"]
mod partition;

use cluster::{Instance, RedisServer};
use eventsource_stream::{Event, Eventsource};
use futures::StreamExt;
use partition::{Link, PartitionProxy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{Instant, sleep, timeout};

/// Quick events and a short history, so a pause of a few seconds outlives the log's entries.
const FLAGS: &[&str] = &[
    "--interval-ms",
    "100",
    "--history",
    "30",
    "--lease-ms",
    "1000",
    "--keepalive-secs",
    "1",
    "--shutdown-timeout-secs",
    "1",
];
/// Redis trims a stream only by whole nodes: small nodes let `MAXLEN ~ 30` keep ~40.
const REDIS_FLAGS: &[&str] = &["--stream-node-max-entries", "10"];
const INSTANCES: usize = 3;
const CLIENTS: usize = 6;
/// How long the fleet may take to converge once every fault is healed.
const CONVERGENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invariants_hold_under_seeded_faults() {
    let seed = env_or("LIVENAMES_FAULT_SEED", rand::random());
    let fault_time = Duration::from_secs(env_or("LIVENAMES_FAULT_SECS", 60));
    eprintln!("fault seed {seed}: rerun with LIVENAMES_FAULT_SEED={seed}");
    let mut fleet = Fleet::start().await;
    let checker = Arc::new(Checker::default());
    let stop_clients = Instant::now() + fault_time + CONVERGENCE;
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let run = Client { number: client, bases: fleet.bases.clone(), checker: checker.clone() };
        tasks.push(tokio::spawn(run.run(seed.wrapping_add(client as u64 + 1), stop_clients)));
    }
    let watching = tokio::spawn(watch_epochs(fleet.bases.clone(), checker.clone(), stop_clients));

    let mut rng = StdRng::seed_from_u64(seed);
    let faults_end = Instant::now() + fault_time;
    while Instant::now() < faults_end {
        fleet.heal_due().await;
        fleet.inject(&mut rng).await;
        sleep(Duration::from_millis(rng.random_range(300..1500))).await;
    }
    fleet.heal_all().await;
    let converged = fleet.converge().await;
    let report = |what: &str| format!("{what} (seed {seed})\n{}", fleet.report(&checker));
    assert!(converged.is_ok(), "{}", report(&converged.unwrap_err()));
    checker.expect_live_clients(converged.unwrap(), CONVERGENCE).await;
    for task in tasks {
        task.abort();
    }
    watching.abort();
    let violations = checker.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{}", report(&violations.join("\n")));
    eprintln!("{}", checker.summary(fleet.log.len()));
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// The processes and links the nemesis acts on.
struct Fleet {
    redis: RedisServer,
    redis_paused: bool,
    slots: Vec<Slot>,
    /// Faults to undo, and when.
    heals: Vec<(Instant, Heal)>,
    /// The addresses clients may pick, `None` where no process runs, with a serial per
    /// process (an address may come back for another process).
    bases: Bases,
    /// Processes that were asked to stop and may still be shutting down.
    stopping: Vec<Instance>,
    /// What the nemesis did, for a failure's report.
    log: Vec<String>,
    started: Instant,
    serial: u64,
}

type Bases = Arc<Mutex<Vec<Option<(String, u64)>>>>;

struct Slot {
    proxy: PartitionProxy,
    instance: Option<Instance>,
    paused: bool,
}

#[derive(Clone, Copy, Debug)]
enum Heal {
    Resume(usize),
    Start(usize),
    Restore(usize),
    ResumeRedis,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Pause,
    Kill,
    Terminate,
    PauseRedis,
    RestartRedis,
    FlushAll,
    Cut,
    Stall,
    DropLease,
    /// One instance paused while the others are killed and Redis restarts empty; the
    /// others come back first, the paused one seconds later.
    Strand,
}

const FAULTS: [Fault; 10] = [
    Fault::Pause,
    Fault::Kill,
    Fault::Terminate,
    Fault::PauseRedis,
    Fault::RestartRedis,
    Fault::FlushAll,
    Fault::Cut,
    Fault::Stall,
    Fault::DropLease,
    Fault::Strand,
];

impl Fleet {
    async fn start() -> Self {
        let redis = RedisServer::start_with(REDIS_FLAGS);
        let mut slots = Vec::new();
        for _ in 0..INSTANCES {
            let upstream = ([127, 0, 0, 1], redis.port()).into();
            slots.push(Slot {
                proxy: PartitionProxy::start(upstream).await,
                instance: None,
                paused: false,
            });
        }
        let bases = Arc::new(Mutex::new(vec![None; INSTANCES]));
        let mut fleet = Self {
            redis,
            redis_paused: false,
            slots,
            heals: Vec::new(),
            bases,
            stopping: Vec::new(),
            log: Vec::new(),
            started: Instant::now(),
            serial: 0,
        };
        for slot in 0..INSTANCES {
            assert!(
                fleet.start_instance(slot).await,
                "instance {slot} starts: {}",
                fleet.log.join("\n")
            );
        }
        fleet
    }

    fn note(&mut self, what: String) {
        self.log.push(format!("{:>6.1}s {what}", self.started.elapsed().as_secs_f64()));
    }

    /// Starts the process of `slot`; `false` if it exited (it cannot reach Redis now).
    async fn start_instance(&mut self, slot: usize) -> bool {
        let url = format!("redis://127.0.0.1:{}/", self.slots[slot].proxy.port());
        let started = tokio::task::spawn_blocking(move || Instance::try_start_at(&url, FLAGS))
            .await
            .expect("the start does not panic");
        match started {
            Ok(instance) => {
                self.serial += 1;
                self.note(format!("started instance {slot} at {}", instance.base()));
                self.bases.lock().unwrap()[slot] = Some((instance.base().to_string(), self.serial));
                self.slots[slot].instance = Some(instance);
                self.slots[slot].paused = false;
                true
            }
            Err(log) => {
                let why = log.lines().last().unwrap_or_default().to_string();
                self.note(format!("instance {slot} did not start: {why}"));
                false
            }
        }
    }

    fn heal_later(&mut self, rng: &mut StdRng, millis: std::ops::Range<u64>, heal: Heal) {
        let at = Instant::now() + Duration::from_millis(rng.random_range(millis));
        self.heals.push((at, heal));
    }

    async fn heal_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = self.heals.drain(..).partition(|(at, _)| *at <= now);
        self.heals = later;
        for (_, heal) in due {
            self.heal(heal).await;
        }
    }

    async fn heal(&mut self, heal: Heal) {
        match heal {
            Heal::Resume(slot) => {
                let paused = &mut self.slots[slot];
                if let Some(instance) = paused.instance.as_ref().filter(|_| paused.paused) {
                    instance.resume();
                    paused.paused = false;
                    self.note(format!("resumed instance {slot}"));
                }
            }
            Heal::Start(slot) => {
                if self.slots[slot].instance.is_none() && !self.start_instance(slot).await {
                    self.heals
                        .push((Instant::now() + Duration::from_millis(500), Heal::Start(slot)));
                }
            }
            Heal::Restore(slot) => {
                self.slots[slot].proxy.set(Link::Up);
                self.note(format!("restored instance {slot}'s link to Redis"));
            }
            Heal::ResumeRedis => {
                if self.redis_paused {
                    self.redis.resume();
                    self.redis_paused = false;
                    self.note("resumed Redis".into());
                }
            }
        }
    }

    /// Slots whose process runs and is not paused.
    fn running(&self) -> Vec<usize> {
        (0..INSTANCES)
            .filter(|&slot| self.slots[slot].instance.is_some() && !self.slots[slot].paused)
            .collect()
    }

    fn pick(rng: &mut StdRng, slots: &[usize]) -> Option<usize> {
        (!slots.is_empty()).then(|| slots[rng.random_range(0..slots.len())])
    }

    async fn inject(&mut self, rng: &mut StdRng) {
        let fault = FAULTS[rng.random_range(0..FAULTS.len())];
        let running = self.running();
        match fault {
            Fault::Pause => {
                let Some(slot) = Self::pick(rng, &running) else { return };
                self.pause(slot);
                self.heal_later(rng, 1000..6000, Heal::Resume(slot));
            }
            Fault::Kill | Fault::Terminate => {
                let Some(slot) = Self::pick(rng, &running) else { return };
                self.stop(slot, matches!(fault, Fault::Kill));
                self.heal_later(rng, 300..3000, Heal::Start(slot));
            }
            Fault::PauseRedis if !self.redis_paused => {
                self.redis.pause();
                self.redis_paused = true;
                self.note("paused Redis".into());
                self.heal_later(rng, 500..3000, Heal::ResumeRedis);
            }
            Fault::RestartRedis => self.restart_redis(),
            Fault::FlushAll if !self.redis_paused => {
                self.redis.cli(&["FLUSHALL"]);
                self.note("FLUSHALL".into());
            }
            Fault::Cut | Fault::Stall => {
                let linked: Vec<usize> = (0..INSTANCES)
                    .filter(|&slot| self.slots[slot].proxy.link() == Link::Up)
                    .collect();
                let Some(slot) = Self::pick(rng, &linked) else { return };
                let link = if matches!(fault, Fault::Cut) { Link::Cut } else { Link::Stalled };
                self.slots[slot].proxy.set(link);
                self.note(format!("{link:?} instance {slot}'s link to Redis"));
                self.heal_later(rng, 500..5000, Heal::Restore(slot));
            }
            Fault::DropLease if !self.redis_paused => {
                self.redis.cli(&["DEL", "livenames:leader"]);
                self.note("deleted the lease".into());
            }
            Fault::Strand => {
                let Some(stranded) = Self::pick(rng, &running) else { return };
                self.pause(stranded);
                for slot in running.into_iter().filter(|&slot| slot != stranded) {
                    self.stop(slot, true);
                    self.heal_later(rng, 300..3000, Heal::Start(slot));
                }
                self.restart_redis();
                self.heal_later(rng, 3000..8000, Heal::Resume(stranded));
            }
            _ => {}
        }
    }

    fn pause(&mut self, slot: usize) {
        self.slots[slot].instance.as_ref().unwrap().pause();
        self.slots[slot].paused = true;
        self.note(format!("paused instance {slot}"));
    }

    fn stop(&mut self, slot: usize, kill: bool) {
        let mut instance = self.slots[slot].instance.take().unwrap();
        self.bases.lock().unwrap()[slot] = None;
        if kill {
            instance.kill();
            self.note(format!("killed instance {slot}"));
        } else {
            instance.ask_to_stop();
            self.stopping.push(instance);
            self.note(format!("sent SIGTERM to instance {slot}"));
        }
    }

    fn restart_redis(&mut self) {
        self.redis.restart(); // a paused one is killed too
        self.redis_paused = false;
        self.note("restarted Redis empty".into());
    }

    async fn heal_all(&mut self) {
        self.note("healing every fault".into());
        self.heal(Heal::ResumeRedis).await;
        for slot in 0..INSTANCES {
            self.heal(Heal::Restore(slot)).await;
            self.heal(Heal::Resume(slot)).await;
        }
        self.heals.clear();
        let deadline = Instant::now() + CONVERGENCE;
        for slot in 0..INSTANCES {
            while self.slots[slot].instance.is_none() && !self.start_instance(slot).await {
                assert!(Instant::now() < deadline, "instance {slot} never started again");
                sleep(Duration::from_millis(300)).await;
            }
        }
    }

    /// Waits until every instance is `ok` with one leader and one epoch that advances;
    /// returns that epoch.
    async fn converge(&mut self) -> Result<u64, String> {
        let deadline = Instant::now() + CONVERGENCE;
        let mut last = String::new();
        let mut agreed: Option<(u64, u64)> = None;
        while Instant::now() < deadline {
            let states = self.health().await;
            last = format!("{states:?}");
            if let Some(epoch_and_index) = agreed_state(&states) {
                match agreed {
                    Some((epoch, index))
                        if epoch == epoch_and_index.0 && epoch_and_index.1 > index + 2 =>
                    {
                        self.note(format!("converged on epoch {epoch}"));
                        return Ok(epoch);
                    }
                    Some((epoch, _)) if epoch == epoch_and_index.0 => {}
                    _ => agreed = Some(epoch_and_index),
                }
            }
            sleep(Duration::from_millis(200)).await;
        }
        Err(format!("the fleet did not converge within {CONVERGENCE:?}; last /healthz: {last}"))
    }

    async fn health(&self) -> Vec<Option<serde_json::Value>> {
        let bases: Vec<_> = self.bases.lock().unwrap().clone();
        let mut states = Vec::new();
        for base in bases {
            states.push(match base {
                Some((base, _)) => health(&base).await,
                None => None,
            });
        }
        states
    }

    fn report(&self, checker: &Checker) -> String {
        let clients = checker.recent.lock().unwrap();
        let recent: Vec<String> = clients
            .iter()
            .map(|(client, frames)| {
                format!("client {client}: {}", Vec::from(frames.clone()).join(" "))
            })
            .collect();
        let logs: Vec<String> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| s.instance.as_ref().map(|instance| (slot, instance.log())))
            .map(|(slot, log)| {
                let warnings: Vec<&str> =
                    log.lines().filter(|line| line.contains("WARN")).collect();
                let tail = &warnings[warnings.len().saturating_sub(15)..];
                format!("instance {slot}'s last warnings:\n{}", tail.join("\n"))
            })
            .collect();
        format!(
            "faults:\n{}\nlast frames per client:\n{}\n{}",
            self.log.join("\n"),
            recent.join("\n"),
            logs.join("\n")
        )
    }
}

/// `(epoch, lowest index)` if every instance is `ok` on one epoch and exactly one leads.
fn agreed_state(states: &[Option<serde_json::Value>]) -> Option<(u64, u64)> {
    let mut epoch = None;
    let mut lowest = u64::MAX;
    let mut leaders = 0;
    for state in states {
        let state = state.as_ref()?;
        if state["status"] != "ok" || state["redis"] != "ok" {
            return None;
        }
        leaders += usize::from(state["leader"] == true);
        let (this_epoch, index) = parse_id(state["last_event_id"].as_str()?)?;
        if *epoch.get_or_insert(this_epoch) != this_epoch {
            return None;
        }
        lowest = lowest.min(index);
    }
    (leaders == 1).then_some((epoch?, lowest))
}

async fn health(base: &str) -> Option<serde_json::Value> {
    let response = timeout(Duration::from_millis(800), reqwest::get(format!("{base}/healthz")))
        .await
        .ok()?
        .ok()?;
    serde_json::from_str(&timeout(Duration::from_millis(800), response.text()).await.ok()?.ok()?)
        .ok()
}

fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (epoch, index) = id.split_once('-')?;
    Some((epoch.parse().ok()?, index.parse().ok()?))
}

/// Invariant (c): polls each running process's epoch; it must never go back.
async fn watch_epochs(bases: Bases, checker: Arc<Checker>, until: Instant) {
    let mut highest: HashMap<u64, u64> = HashMap::new();
    while Instant::now() < until {
        let current: Vec<_> = bases.lock().unwrap().iter().flatten().cloned().collect();
        for (base, serial) in current {
            let Some(state) = health(&base).await else { continue };
            let Some((epoch, _)) = state["last_event_id"].as_str().and_then(parse_id) else {
                continue;
            };
            let seen = highest.entry(serial).or_insert(epoch);
            if epoch < *seen {
                checker.violate(format!(
                    "(c) the process at {base} went back from epoch {seen} to {epoch}"
                ));
            }
            *seen = epoch.max(*seen);
        }
        sleep(Duration::from_millis(250)).await;
    }
}

/// Checks every frame against invariants (a) and (b), and keeps the last frames per client.
#[derive(Default)]
struct Checker {
    /// The payload of every id any client received.
    payloads: Mutex<HashMap<String, String>>,
    violations: Mutex<Vec<String>>,
    recent: Mutex<HashMap<usize, VecDeque<String>>>,
    /// Each client's last event id, for the liveness check.
    last_ids: Mutex<HashMap<usize, String>>,
    /// `gap` events received, for the summary.
    gaps: std::sync::atomic::AtomicUsize,
}

/// What one client knows of the stream.
#[derive(Default)]
struct View {
    last: Option<(u64, u64)>,
    /// A `gap` came on this connection since the last event.
    gap: bool,
}

impl Checker {
    fn violate(&self, what: String) {
        let mut violations = self.violations.lock().unwrap();
        if violations.len() < 50 {
            violations.push(what);
        }
    }

    fn observe(&self, client: usize, base: &str, view: &mut View, event: &Event) {
        self.remember(
            client,
            format!(
                "{}:{}",
                event.event,
                if event.event == "message" { &event.id } else { &event.data }
            ),
        );
        match event.event.as_str() {
            "gap" => {
                view.gap = true;
                self.gaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            "message" => self.event(client, base, view, event),
            "ping" => {}
            other => {
                self.violate(format!("client {client} got an unexpected `{other}` from {base}"))
            }
        }
    }

    fn event(&self, client: usize, base: &str, view: &mut View, event: &Event) {
        let Some((epoch, index)) = parse_id(&event.id) else {
            return self.violate(format!("client {client}: malformed id {:?}", event.id));
        };
        let known = self
            .payloads
            .lock()
            .unwrap()
            .entry(event.id.clone())
            .or_insert_with(|| event.data.clone())
            .clone();
        if known != event.data {
            self.violate(format!(
                "(a) {} has two payloads: {known} and, from {base}, {}",
                event.id, event.data
            ));
        }
        if let Some((last_epoch, last_index)) = view.last {
            let after = format!("client {client} after {last_epoch}-{last_index}, from {base}");
            if epoch == last_epoch && index <= last_index {
                self.violate(format!("(b) {after}: {} again or going back", event.id));
            } else if epoch == last_epoch && index != last_index + 1 && !view.gap {
                self.violate(format!("(b) {after}: jumped to {} without a gap", event.id));
            } else if epoch != last_epoch && !view.gap {
                self.violate(format!("(b) {after}: moved to epoch {epoch} without a gap"));
            }
        }
        view.last = Some((epoch, index));
        view.gap = false;
        self.last_ids.lock().unwrap().insert(client, event.id.clone());
    }

    fn remember(&self, client: usize, frame: String) {
        let mut recent = self.recent.lock().unwrap();
        let frames = recent.entry(client).or_default();
        if frames.len() == 40 {
            frames.pop_front();
        }
        frames.push_back(frame);
    }

    /// What was checked: so a run that checked little is seen to.
    fn summary(&self, nemesis_steps: usize) -> String {
        let payloads = self.payloads.lock().unwrap();
        let epochs: std::collections::BTreeSet<u64> =
            payloads.keys().filter_map(|id| parse_id(id)).map(|(epoch, _)| epoch).collect();
        let gaps = self.gaps.load(std::sync::atomic::Ordering::Relaxed);
        format!(
            "{nemesis_steps} nemesis steps; {} distinct ids in {} epochs received, {gaps} gaps; no violation",
            payloads.len(),
            epochs.len()
        )
    }

    /// Every client receives events of the converged epoch (bounded wait).
    async fn expect_live_clients(&self, epoch: u64, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let behind: Vec<usize> = (0..CLIENTS)
                .filter(|client| {
                    let last_ids = self.last_ids.lock().unwrap();
                    last_ids
                        .get(client)
                        .and_then(|id| parse_id(id))
                        .is_none_or(|(last, _)| last != epoch)
                })
                .collect();
            if behind.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "clients {behind:?} never received epoch {epoch}");
            sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One SSE client: connects to a random running instance with its last id, reads for a
/// while (or until the stream ends or goes silent), and moves on.
struct Client {
    number: usize,
    bases: Bases,
    checker: Arc<Checker>,
}

impl Client {
    async fn run(self, seed: u64, until: Instant) {
        let mut rng = StdRng::seed_from_u64(seed);
        let http =
            reqwest::Client::builder().connect_timeout(Duration::from_secs(1)).build().unwrap();
        let mut view = View::default();
        while Instant::now() < until {
            let candidates: Vec<String> =
                self.bases.lock().unwrap().iter().flatten().map(|(base, _)| base.clone()).collect();
            if !candidates.is_empty() {
                let base = candidates[rng.random_range(0..candidates.len())].clone();
                let stay = Duration::from_millis(rng.random_range(500..4000));
                self.read_for(
                    &http,
                    &base,
                    &mut view,
                    stay.min(until.saturating_duration_since(Instant::now())),
                )
                .await;
            }
            sleep(Duration::from_millis(rng.random_range(20..300))).await;
        }
    }

    async fn read_for(&self, http: &reqwest::Client, base: &str, view: &mut View, stay: Duration) {
        let mut request = http.get(format!("{base}/sse"));
        if let Some((epoch, index)) = view.last {
            request = request.header("Last-Event-ID", format!("{epoch}-{index}"));
        }
        let Ok(Ok(response)) = timeout(Duration::from_secs(2), request.send()).await else {
            return;
        };
        if response.status() != 200 {
            return;
        }
        view.gap = false;
        let leave = Instant::now() + stay;
        let mut events = response.bytes_stream().eventsource();
        // Silent for 3 s (heartbeats come every second): a paused instance; move on.
        while let Ok(Some(Ok(event))) = timeout(
            Duration::from_secs(3).min(leave.saturating_duration_since(Instant::now())),
            events.next(),
        )
        .await
        {
            self.checker.observe(self.number, base, view, &event);
        }
    }
}
