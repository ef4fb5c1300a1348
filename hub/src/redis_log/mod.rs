//! One stream shared by several processes through a Redis Stream (feature `redis`).
//!
//! ```text
//! leader (lease term) ──APPEND, fenced──► Redis Stream <key>:events ──XREAD──► each process's Hub ──► its subscribers
//!                                              └──FETCH (bounded): resumes the local history cannot serve
//! ```
//!
//! # Invariants
//! What must hold whatever pauses, partitions, restarts or loses data, and what holds it:
//!
//! 1. **An id names one payload forever** (its data and its name). Within an epoch, Redis
//!    is the only place an index is given a payload: the [append](scripts) writes index
//!    `last + 1` of the epoch recorded in `<key>:epoch`, and only for the holder of the
//!    current lease term (its fencing token), checked in the same script as the write. Nothing ever continues an epoch
//!    Redis cannot vouch for: when the record is gone (Redis lost its data), was made
//!    before Redis restarted (persisted data may be older than what was sent), or is older
//!    than a process's own epoch, the processes move to a **new epoch** whose log starts
//!    empty ([`JOIN_EPOCH`](scripts)). So no index of an old epoch is written again, and
//!    no process deletes a newer epoch's log or puts an older one back.
//! 2. **No event is skipped silently.** Every process reads the log in order, and the hub
//!    checks that each entry is the next index: where the log lost entries (trimmed or
//!    emptied while this process was paused or cut off), live subscribers get `gap` and the
//!    history keeps the hole, so a resume from before it gets `gap` too. Within an epoch a
//!    subscriber sees consecutive indices or a `gap`, and never an index going backwards
//!    (a stream never sends an index at or below the last it sent). A process that moves
//!    to another epoch ends its streams; their clients resume in it with a `gap`.
//! 3. **Epochs only move forward and are unique.** A new epoch is made only inside Redis,
//!    atomically, and is greater than the time now in milliseconds, the epoch stored and
//!    the proposing process's own; a process follows the epoch in Redis only if it is not
//!    older than its own. So a clock that is skewed or steps back cannot reuse an epoch or
//!    roll the fleet back while any process or Redis remembers the last one. Only if every
//!    process and Redis's data are lost at once does the wall clock alone decide, as for a
//!    single server's restart.
//!
//! `tests/faults.rs` in the livenames server checks all three on every frame under seeded
//! faults: killed, stopped and restarted processes, a stopped or emptied Redis, a lost
//! lease, and partitions between a process and Redis.
//!
//! # How
//! - The log is `<key>:events`, trimmed to about `history` entries (`MAXLEN ~`); entry ids
//!   are `<index>-0`, field `text` or `data` holds the event's text or JSON, encoded once by
//!   the leader, and field `event` its name unless it is a `message` (an entry without one,
//!   as written before names, is a `message`). So every process sends the same bytes for an
//!   id.
//! - One process publishes: the holder of the lease (see [`leader`]). A leader that dies
//!   stops renewing; another takes over once the lease expires and continues after the last
//!   index in the log.
//! - Every process, the leader included, delivers only what it reads back from Redis, so all
//!   deliver one order. While Redis is unreachable, subscribers stay connected (heartbeats
//!   go on); the reader retries with capped backoff, agrees on the epoch again, and resumes
//!   after the last index it delivered.

mod leader;
mod scripts;

use crate::data::Data;
use crate::hub::Fetched;
use crate::hub::unix_millis_now;
use crate::{EventId, EventName, Hub, Subscription, frame};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, FromRedisValue, RedisError, RedisResult};
use scripts::{Keys, Scripts};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex as AsyncMutex;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

/// The field of a log entry that holds the event's name, when it has one.
const NAME_FIELD: &str = "event";
/// How long one blocking `XREAD` waits for new entries before asking again.
const READ_BLOCK: Duration = Duration::from_secs(2);
/// Entries read at most per `XREAD`.
const READ_BATCH: usize = 256;
/// How long a command may take before the connection counts as broken.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// First and longest wait between two attempts to reach Redis.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// How a process joins the shared stream.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Where Redis listens, like `redis://127.0.0.1:6379/`.
    pub url: String,
    /// Prefix of the keys: `<key>:events`, `<key>:epoch`, `<key>:leader`.
    pub key: String,
    /// How long the leader's lease lasts unless renewed.
    pub lease: Duration,
    /// Events kept for resumes, in Redis (about that many) and in each process.
    pub history: NonZeroUsize,
    /// Events a subscriber may fall behind before its stream is ended.
    pub backlog: NonZeroUsize,
    /// The stream ends after this many events; `None` = endless.
    pub max_events: Option<NonZeroU64>,
}

impl RedisOptions {
    /// Checks that `url` is a Redis URL, without connecting: for a command-line parser.
    pub fn check_url(url: &str) -> Result<(), String> {
        Client::open(url).map(drop).map_err(|err| format!("not a Redis URL ({err})"))
    }
}

/// What the Redis side counts, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct RedisMetrics {
    /// Redis commands that failed.
    pub errors: Counter,
    /// Times the reader reached Redis again after losing it.
    pub reconnects: Counter,
    /// New epochs this process began because Redis could not vouch for the last one.
    pub epochs_begun: Counter,
}

impl RedisMetrics {
    /// Registers every series in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("errors", "Redis commands that failed", self.errors.clone());
        registry.register(
            "reconnects",
            "Times the stream reader reached Redis again after losing it",
            self.reconnects.clone(),
        );
        registry.register(
            "epochs_begun",
            "New epochs begun here because Redis lost, or could not vouch for, the last one",
            self.epochs_begun.clone(),
        );
    }
}

/// A [`Hub`] fed from a Redis Stream that several processes share. Cheap to clone.
pub struct RedisHub<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for RedisHub<T> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

struct Shared<T> {
    hub: Hub<T>,
    client: Client,
    commands: Commands,
    keys: Keys,
    /// The Lua scripts, sent once and then called by their hash.
    scripts: Scripts,
    lease: Duration,
    history: NonZeroUsize,
    max_events: Option<NonZeroU64>,
    /// This process's name in the lease.
    instance: String,
    /// Whether the reader is connected: what `/healthz` reports.
    reading: Flag,
    /// Until when this process surely holds the lease: its last request for it plus the
    /// lease's length (Redis counts from when it got the request, later). `None` between
    /// terms.
    lease_held_until: std::sync::Mutex<Option<Instant>>,
    /// Whether the leader's last command worked, so its failures are logged once.
    publishing: Flag,
    /// When the reader last handed an event to the hub: a new leader keeps the pace from it.
    last_delivered: std::sync::Mutex<Option<Instant>>,
    metrics: RedisMetrics,
}

impl<T> Shared<T> {
    fn held_until(&self, until: Option<Instant>) {
        *self.lease_held_until.lock().unwrap_or_else(|poison| poison.into_inner()) = until;
    }
}

impl<T> RedisHub<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Connects, agrees on the epoch, and starts reading the log into a local hub until
    /// `stop` is cancelled. Fails only if Redis cannot be reached now.
    pub async fn connect(options: RedisOptions, stop: CancellationToken) -> RedisResult<Self> {
        let client = Client::open(options.url.as_str())?;
        let commands = Commands::new(client.clone());
        let keys = Keys::new(&options.key);
        let scripts = Scripts::new();
        let mut connection = commands.get().await?;
        let (epoch, outcome) = join_epoch(&mut connection, &scripts, &keys, None).await?;
        let shared = Shared {
            hub: Hub::with_epoch(epoch, options.history, options.backlog),
            client,
            commands,
            keys,
            scripts,
            lease: options.lease,
            history: options.history,
            max_events: options.max_events,
            instance: instance_name(),
            reading: Flag::new(true),
            lease_held_until: std::sync::Mutex::new(None),
            publishing: Flag::new(true),
            last_delivered: std::sync::Mutex::new(None),
            metrics: RedisMetrics::default(),
        };
        let this = Self { shared: Arc::new(shared) };
        this.log_outcome(None, epoch, &outcome);
        tracing::info!(epoch, instance = this.shared.instance, "joined the stream in Redis");
        tokio::spawn(this.clone().read(stop));
        Ok(this)
    }

    /// The local hub: latest event, metrics, and what subscribers are served from.
    pub fn hub(&self) -> &Hub<T> {
        &self.shared.hub
    }

    /// What the Redis side counts; register it with [`RedisMetrics::register`].
    pub fn metrics(&self) -> &RedisMetrics {
        &self.shared.metrics
    }

    /// Whether this process is reading the log from Redis now.
    pub fn is_connected(&self) -> bool {
        self.shared.reading.get()
    }

    /// Whether this process holds the lease now, as far as it can know: from taking or
    /// renewing it until the lease would expire (a renewal that hangs does not extend it).
    pub fn is_leader(&self) -> bool {
        let until = *self.shared.lease_held_until.lock().unwrap_or_else(|p| p.into_inner());
        until.is_some_and(|until| Instant::now() < until)
    }

    /// Subscribes as [`Hub::subscribe`] does; a resume point outside the local history is
    /// looked up in Redis, so a browser may resume on any process.
    pub async fn subscribe(&self, last_event_id: Option<&str>) -> Option<Subscription> {
        let fetched = match last_event_id.and_then(|raw| raw.parse::<EventId>().ok()) {
            Some(id) => match self.shared.hub.backfill(id) {
                Some(count) => self.fetch_from(id.index, count).await,
                None => Fetched::default(),
            },
            None => Fetched::default(),
        };
        self.shared.hub.subscribe_with(last_event_id, fetched)
    }

    fn leader_failed(&self, err: &RedisError) {
        self.shared.metrics.errors.inc();
        if self.shared.publishing.set(false) {
            tracing::warn!(%err, "Redis command of the publisher failed; retrying");
        }
    }

    /// Up to `count` encoded events from `index` on, from Redis; none if the log no longer
    /// holds the one after `index` (the resume is a `gap` then, and reading the log would
    /// be wasted). If Redis cannot answer, or its log is of another epoch than this
    /// process's, the resume falls back to the local history (or a `gap`); the epoch change
    /// reaches this process's streams soon after.
    async fn fetch_from(&self, index: u64, count: u64) -> Fetched {
        let mut script = self.shared.scripts.fetch.prepare_invoke();
        script.key(&self.shared.keys.epoch).key(&self.shared.keys.events);
        script.arg(index).arg(count);
        let epoch = self.shared.hub.epoch();
        match self.shared.commands.invoke::<(Option<u64>, Vec<RawEntry>)>(&script).await {
            Ok((Some(stored), entries)) if stored == epoch => {
                let encode = |(index, name, data): (u64, EventName, Data)| {
                    (index, frame::event(EventId { epoch, index }, &name, data.as_str()))
                };
                let entries = entries.iter().filter_map(parse_entry).map(encode).collect();
                Fetched { entries, unreadable: false }
            }
            Ok(_) => Fetched { entries: Vec::new(), unreadable: true },
            Err(err) => {
                self.shared.metrics.errors.inc();
                tracing::warn!(%err, "cannot read the history from Redis for a resume");
                Fetched { entries: Vec::new(), unreadable: true }
            }
        }
    }

    /// The epoch in Redis and the last index in its log, if Redis holds one.
    async fn log_position(&self) -> RedisResult<Option<(u64, u64)>> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&self.shared.keys.epoch).arg("epoch").arg("last");
        let (epoch, last): (Option<u64>, Option<u64>) = self.shared.commands.query(&cmd).await?;
        Ok(epoch.zip(last))
    }

    /// The reader: feeds the local hub from Redis until `stop`, reconnecting with backoff.
    async fn read(self, stop: CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match self.read_until_failure(&stop, &mut backoff).await {
                Ok(()) => return,
                Err(err) => {
                    self.shared.metrics.errors.inc();
                    if self.shared.reading.set(false) {
                        tracing::warn!(%err, "lost Redis: subscribers stay, retrying with backoff");
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = sleep(backoff) => backoff = (backoff * 2).min(BACKOFF_MAX),
            }
        }
    }

    /// Reads entries after the last delivered one into the hub; `Ok` at stop or the end.
    async fn read_until_failure(
        &self,
        stop: &CancellationToken,
        backoff: &mut Duration,
    ) -> RedisResult<()> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(READ_BLOCK + RESPONSE_TIMEOUT));
        let mut connection =
            self.shared.client.get_multiplexed_async_connection_with_config(&config).await?;
        self.settle_epoch(&mut connection).await?;
        if self.shared.reading.set(true) {
            self.shared.metrics.reconnects.inc();
            tracing::info!(after = self.shared.hub.last_index(), "reached Redis again: reading on");
        }
        *backoff = BACKOFF_MIN;
        let mut cursor = Cursor::at(&self.shared.hub);
        loop {
            let (entries, epoch) = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                read = read_after(&mut connection, &self.shared.keys, &cursor.after) => read?,
            };
            // The epoch may have moved (Redis lost its data, or the leader learnt of a new
            // one first): the entries may be of either, so they are read again once agreed.
            // Epochs are never reused, so if it is the cursor's after the read as it was
            // before, the entries are of it.
            if epoch != Some(cursor.epoch) || self.shared.hub.epoch() != cursor.epoch {
                self.settle_epoch(&mut connection).await?;
                cursor = Cursor::at(&self.shared.hub);
                continue;
            }
            if let Some((id, _)) = entries.last() {
                cursor.after.clone_from(id);
            }
            for (index, name, data) in entries.iter().filter_map(parse_entry) {
                if self.deliver(EventId { epoch: cursor.epoch, index }, &name, &data) {
                    return Ok(());
                }
            }
        }
    }

    /// [`RedisHub::settle_epoch`] for the leader, whose append learns of a new epoch before
    /// the reader does.
    async fn follow_epoch(&self) {
        let settled = match self.shared.commands.get().await {
            Ok(mut connection) => self.settle_epoch(&mut connection).await,
            Err(err) => Err(err),
        };
        if let Err(err) = settled {
            self.leader_failed(&err);
        }
    }

    /// Agrees with Redis on the epoch (see the module's invariants); when it is another
    /// than the hub's, the hub starts over in it, to be read from the log.
    async fn settle_epoch(&self, connection: &mut MultiplexedConnection) -> RedisResult<()> {
        let hub = &self.shared.hub;
        let mine = hub.epoch();
        let scripts = &self.shared.scripts;
        let (agreed, outcome) =
            join_epoch(connection, scripts, &self.shared.keys, Some(mine)).await?;
        self.log_outcome(Some(mine), agreed, &outcome);
        if agreed != mine {
            hub.restart(agreed);
        }
        Ok(())
    }

    /// Says what the agreement on the epoch did, and counts a new epoch begun here.
    fn log_outcome(&self, mine: Option<u64>, agreed: u64, outcome: &str) {
        let why = match outcome {
            "kept" => {
                if mine.is_some_and(|mine| mine != agreed) {
                    tracing::warn!(from = mine, to = agreed, "following the newer epoch in Redis");
                }
                return;
            }
            "new" => "Redis held no epoch",
            "lost" => "Redis lost the stream's epoch and log",
            "restarted" => "Redis restarted since the epoch was recorded",
            _ => "Redis held an epoch older than this process's",
        };
        self.shared.metrics.epochs_begun.inc();
        tracing::warn!(
            from = mine,
            to = agreed,
            "{why}: began a new epoch; subscribers resume in it with a gap"
        );
    }

    /// Hands one entry to the local hub; `true` once it was the stream's last.
    fn deliver(&self, id: EventId, name: &EventName, data: &Data) -> bool {
        let index = id.index;
        match self.shared.hub.ingest(id, name, data) {
            Ok(true) => {
                let mut last = self.shared.last_delivered.lock().unwrap_or_else(|p| p.into_inner());
                *last = Some(Instant::now());
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(index, %err, "skipping a log entry that is not an event"),
        }
        let Some(last) = self.shared.max_events.filter(|last| index >= last.get()) else {
            return false;
        };
        self.shared.hub.close(&format!("the stream ended after {last} events"));
        true
    }
}

/// Runs [`JOIN_EPOCH`](scripts) for a process on `mine` (`None`: it has no stream yet);
/// returns the epoch agreed on and what happened.
async fn join_epoch(
    connection: &mut MultiplexedConnection,
    scripts: &Scripts,
    keys: &Keys,
    mine: Option<u64>,
) -> RedisResult<(u64, String)> {
    let mut script = scripts.join_epoch.prepare_invoke();
    script.key(&keys.epoch).key(&keys.events);
    script.arg(mine.unwrap_or(0)).arg(unix_millis_now());
    script.invoke_async(connection).await
}

/// Where the reader goes on: after the last entry read (delivered or skipped, so that a bad
/// entry is read once), in the epoch the hub was in then.
struct Cursor {
    epoch: u64,
    after: String,
}

impl Cursor {
    fn at<T: Serialize>(hub: &Hub<T>) -> Self {
        Self { epoch: hub.epoch(), after: format!("{}-0", hub.last_index()) }
    }
}

/// One log entry as Redis sends it: its id and its fields and values, flattened.
type RawEntry = (String, Vec<String>);

/// What `XREAD` answers: per stream read, its key and its entries; nothing at the timeout.
type XreadReply = Option<Vec<(String, Vec<RawEntry>)>>;

/// Waits up to [`READ_BLOCK`] for entries after the entry id `after`; returns them with the
/// epoch in Redis once they were read.
async fn read_after(
    connection: &mut MultiplexedConnection,
    keys: &Keys,
    after: &str,
) -> RedisResult<(Vec<RawEntry>, Option<u64>)> {
    let mut pipe = redis::pipe();
    pipe.cmd("XREAD").arg("COUNT").arg(READ_BATCH).arg("BLOCK").arg(READ_BLOCK.as_millis() as u64);
    pipe.arg("STREAMS").arg(&keys.events).arg(after);
    pipe.cmd("HGET").arg(&keys.epoch).arg("epoch");
    let (reply, epoch): (XreadReply, Option<u64>) = pipe.query_async(connection).await?;
    Ok((reply.into_iter().flatten().flat_map(|(_, entries)| entries).collect(), epoch))
}

/// The index, name and data of an entry; `None` (logged) for one this crate did not write.
/// A name is checked as a publisher's is, so that no entry can break a stream's framing.
fn parse_entry((id, fields): &RawEntry) -> Option<(u64, EventName, Data)> {
    let pairs = || fields.chunks_exact(2).map(|pair| (pair[0].as_str(), pair[1].as_str()));
    let data = pairs().find_map(|(field, value)| Data::from_field(field, value));
    let name = match pairs().find(|(field, _)| *field == NAME_FIELD) {
        Some((_, name)) => EventName::new(name.to_owned()),
        None => Ok(EventName::MESSAGE),
    };
    match (index_of(id), data, name) {
        (Some(index), Some(data), Ok(name)) => Some((index, name, data)),
        (_, _, Err(err)) => {
            tracing::warn!(id, %err, "skipping a log entry whose `event` is not an event name");
            None
        }
        _ => {
            tracing::warn!(id, "skipping a log entry without an `<index>-0` id and `data`/`text`");
            None
        }
    }
}

/// The index in an entry id `<index>-0`.
fn index_of(id: &str) -> Option<u64> {
    id.strip_suffix("-0")?.parse().ok()
}

/// A multiplexed connection for short commands, opened again after it breaks.
struct Commands {
    client: Client,
    connection: AsyncMutex<Option<MultiplexedConnection>>,
}

impl Commands {
    fn new(client: Client) -> Self {
        Self { client, connection: AsyncMutex::new(None) }
    }

    async fn get(&self) -> RedisResult<MultiplexedConnection> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let connection = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn query<R: FromRedisValue>(&self, cmd: &redis::Cmd) -> RedisResult<R> {
        let result = cmd.query_async(&mut self.get().await?).await;
        self.forget_if_broken(result).await
    }

    async fn invoke<R: FromRedisValue>(
        &self,
        script: &redis::ScriptInvocation<'_>,
    ) -> RedisResult<R> {
        let result = script.invoke_async(&mut self.get().await?).await;
        self.forget_if_broken(result).await
    }

    /// Drops the connection after an error that is not Redis answering "no" (with a code of
    /// its own, or one of a script: `Extension`).
    async fn forget_if_broken<R>(&self, result: RedisResult<R>) -> RedisResult<R> {
        let answered =
            |err: &RedisError| matches!(err.kind(), ErrorKind::Server(_) | ErrorKind::Extension);
        if result.as_ref().is_err_and(|err| !answered(err)) {
            *self.connection.lock().await = None;
        }
        result
    }
}

/// A state whose changes are logged once, not at every retry.
struct Flag(AtomicBool);

impl Flag {
    fn new(value: bool) -> Self {
        Self(AtomicBool::new(value))
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the value; `true` if it changed.
    fn set(&self, value: bool) -> bool {
        self.0.swap(value, Ordering::Relaxed) != value
    }
}

/// A name unique among processes and among hubs in one process: pid, start time, counter.
fn instance_name() -> String {
    static HUBS: AtomicU64 = AtomicU64::new(0);
    let serial = HUBS.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{serial}", std::process::id(), unix_millis_now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, fields: &[&str]) -> RawEntry {
        (id.to_owned(), fields.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn entries_parse_to_their_index_name_and_data() {
        let message = EventName::MESSAGE;
        let json = entry("42-0", &["data", "{}"]);
        assert_eq!(parse_entry(&json), Some((42, message.clone(), Data::Json("{}".into()))));
        let text = entry("43-0", &["text", "tick"]);
        assert_eq!(parse_entry(&text), Some((43, message, Data::Text("tick".into()))));
        let named = entry("44-0", &["text", "9.5", "event", "price"]);
        let price = EventName::new("price").unwrap();
        assert_eq!(parse_entry(&named), Some((44, price, Data::Text("9.5".into()))));
        for bad in [
            entry("42-1", &["data", "{}"]),
            entry("42-0", &["other", "{}"]),
            entry("42-0", &["data"]),
            entry("42-0", &["data", "{}", "event", "a\nb"]), // would break the stream
            entry("42-0", &["data", "{}", "event", "close"]), // would pass for the hub's own
        ] {
            assert_eq!(parse_entry(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn urls_are_checked_without_connecting() {
        assert!(RedisOptions::check_url("redis://127.0.0.1:6379/").is_ok());
        assert!(RedisOptions::check_url("http://127.0.0.1/").is_err());
        assert!(RedisOptions::check_url("not a url").is_err());
    }
}
