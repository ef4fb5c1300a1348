//! One stream shared by several processes through a Redis Stream (feature `redis`).
//!
//! ```text
//! leader: make(index) ──XADD <index>-0──► Redis Stream ──XREAD BLOCK──► each process's Hub ──► its subscribers
//!                                              └──XRANGE: resumes the local history cannot serve
//! ```
//! - The log is one stream key, `<key>:events`, trimmed to about `history` entries
//!   (`MAXLEN ~`). Entry ids are `<index>-0`, so Redis itself refuses a duplicate or an
//!   out-of-order index. Field `data` holds the event's JSON, encoded once by the leader.
//! - The epoch lives in `<key>:epoch`, so every process and every restart shares it. When
//!   Redis lost its data, the processes that carry the stream put their epoch and latest
//!   event back, so it goes on from the next index. Processes never stay on two epochs: the
//!   older one wins, as long as a process still holds events of it (a process that started
//!   while Redis was empty, with nothing to lose, may have set a newer one). Whoever finds
//!   Redis on an epoch other than its own follows it: its hub starts over in that epoch, and
//!   its subscribers resume in it. The leader only appends to the log of its own epoch.
//! - One process publishes: the holder of the lease `<key>:leader` (`SET NX PX`, renewed at
//!   a third of its length). One that dies stops renewing; another takes over once the lease
//!   expires and continues from the last index in the log.
//! - Every process, the leader included, delivers only what it reads back from Redis, so all
//!   deliver one order. While Redis is unreachable, subscribers stay connected (heartbeats
//!   go on); the reader retries with capped backoff and resumes after the last index it
//!   delivered.

use crate::hub::Fetched;
use crate::hub::unix_millis_now;
use crate::{EventId, Hub, Subscription, frame};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, FromRedisValue, RedisError, RedisResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex as AsyncMutex;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep};
use tokio_util::sync::CancellationToken;

/// How long one blocking `XREAD` waits for new entries before asking again.
const READ_BLOCK: Duration = Duration::from_secs(2);
/// Entries read at most per `XREAD`.
const READ_BATCH: usize = 256;
/// How long a command may take before the connection counts as broken.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// First and longest wait between two attempts to reach Redis.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Holds the lease if this process has it, or takes it if it is free; 1 when held after.
const HOLD_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0";

/// Agrees on the epoch: KEYS = epoch, events; ARGV = this process's epoch, its latest
/// index (0: none), that event's JSON, the history length. Returns the epoch agreed on and
/// what changed: `kept`, `set` (Redis had none), `reclaimed` (Redis had a newer one, which
/// this process's older stream replaces, with the newer one's events).
const JOIN_EPOCH: &str = r"
local stored = redis.call('GET', KEYS[1])
local latest = tonumber(ARGV[2])
local outcome = 'kept'
if not stored then
    outcome = 'set'
elseif tonumber(stored) > tonumber(ARGV[1]) and latest > 0 then
    outcome = 'reclaimed'
    redis.call('DEL', KEYS[2])
end
if outcome ~= 'kept' then
    redis.call('SET', KEYS[1], ARGV[1])
    stored = ARGV[1]
end
if stored == ARGV[1] and latest > 0 then
    -- Give back the latest event if the log lost it, so the next index is past it. pcall:
    -- a log emptied by trimming may still refuse an id at or below its last one.
    local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
    if not last or tonumber(string.match(last[1], '^%d+')) < latest then
        redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], ARGV[2] .. '-0', 'data', ARGV[3])
    end
end
return {stored, outcome}";

/// Appends an event, only to the log of the leader's epoch: KEYS = events, epoch; ARGV =
/// epoch, history length, index, JSON.
const APPEND: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
    return redis.error_reply('EPOCH the log in Redis is of another epoch')
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], ARGV[3] .. '-0', 'data', ARGV[4])";

/// Deletes the lease only if this process holds it.
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

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
}

impl RedisMetrics {
    /// Registers both series in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("errors", "Redis commands that failed", self.errors.clone());
        registry.register(
            "reconnects",
            "Times the stream reader reached Redis again after losing it",
            self.reconnects.clone(),
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
    /// Whether this process holds the lease and publishes.
    leading: AtomicBool,
    /// Whether the leader's last command worked, so its failures are logged once.
    publishing: Flag,
    /// When the reader last handed an event to the hub: a new leader keeps the pace from it.
    last_delivered: std::sync::Mutex<Option<Instant>>,
    metrics: RedisMetrics,
}

struct Scripts {
    join_epoch: redis::Script,
    append: redis::Script,
    hold_lease: redis::Script,
    release_lease: redis::Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            join_epoch: redis::Script::new(JOIN_EPOCH),
            append: redis::Script::new(APPEND),
            hold_lease: redis::Script::new(HOLD_LEASE),
            release_lease: redis::Script::new(RELEASE_LEASE),
        }
    }
}

struct Keys {
    events: String,
    epoch: String,
    leader: String,
}

/// How a stretch of leadership ended.
enum Stepped {
    /// Stop was cancelled, or the stream reached its last event: release the lease.
    Done,
    /// The lease is (or may be) someone else's now: campaign again.
    Down,
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
        let keys = Keys {
            events: format!("{}:events", options.key),
            epoch: format!("{}:epoch", options.key),
            leader: format!("{}:leader", options.key),
        };
        let scripts = Scripts::new();
        let mut connection = commands.get().await?;
        let proposal =
            Proposal { epoch: unix_millis_now(), latest: None, history: options.history };
        let (epoch, _) = proposal.join(&mut connection, &scripts, &keys).await?;
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
            leading: AtomicBool::new(false),
            publishing: Flag::new(true),
            last_delivered: std::sync::Mutex::new(None),
            metrics: RedisMetrics::default(),
        };
        let this = Self { shared: Arc::new(shared) };
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

    /// Whether this process holds the lease and publishes.
    pub fn is_leader(&self) -> bool {
        self.shared.leading.load(Ordering::Relaxed)
    }

    /// Subscribes as [`Hub::subscribe`] does; a resume point outside the local history is
    /// looked up in Redis, so a browser may resume on any process.
    pub async fn subscribe(&self, last_event_id: Option<&str>) -> Option<Subscription> {
        let fetched = match last_event_id.and_then(|raw| raw.parse::<EventId>().ok()) {
            Some(id) if self.shared.hub.needs_backfill(id) => self.fetch_from(id.index).await,
            _ => Fetched::default(),
        };
        self.shared.hub.subscribe_with(last_event_id, fetched)
    }

    /// Publishes `make(index)` every `interval` while this process holds the lease, and
    /// campaigns for it otherwise; returns when `stop` is cancelled or the stream has ended,
    /// releasing the lease.
    pub async fn lead(
        self,
        interval: Duration,
        mut make: impl FnMut(u64) -> T,
        stop: CancellationToken,
    ) {
        while let Some(asked) = self.campaign(&stop).await {
            self.shared.leading.store(true, Ordering::Relaxed);
            tracing::info!(instance = self.shared.instance, "took the lease: publishing");
            let stepped = self.publish_while_leading(asked, interval, &mut make, &stop).await;
            self.shared.leading.store(false, Ordering::Relaxed);
            if let Stepped::Done = stepped {
                self.release().await;
                return;
            }
            tracing::info!("stopped publishing: the lease is another process's, or may be");
        }
    }

    /// Waits until this process holds the lease, and returns when it asked for it; `None`
    /// at stop or the stream's end.
    async fn campaign(&self, stop: &CancellationToken) -> Option<Instant> {
        loop {
            if stop.is_cancelled() || self.shared.hub.is_closed() {
                return None;
            }
            let asked = Instant::now();
            match self.hold_lease().await {
                Ok(true) => return Some(asked),
                Ok(false) => {}
                Err(err) => self.leader_failed(&err),
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = sleep(self.shared.lease / 3) => {}
            }
        }
    }

    /// Publishes until the lease is lost or may be: it counts from `held_since`, when this
    /// process last asked Redis for it.
    async fn publish_while_leading(
        &self,
        held_since: Instant,
        interval: Duration,
        make: &mut impl FnMut(u64) -> T,
        stop: &CancellationToken,
    ) -> Stepped {
        let lease = self.shared.lease;
        // Taken before the index: appends are refused once the hub has moved to another
        // epoch, whose next index this one is not.
        let epoch = self.shared.hub.epoch();
        let Ok(mut next) = self.next_index().await.map_err(|err| self.leader_failed(&err)) else {
            return Stepped::Down;
        };
        let mut ticks = interval_at(self.first_tick(interval), interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut renewals = interval_at(Instant::now() + lease / 3, lease / 3);
        let mut renewed_at = held_since;
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return Stepped::Done,
                asked = renewals.tick() => match self.hold_lease().await {
                    // Redis counts the lease from when it got the request, after `asked`.
                    Ok(true) => renewed_at = asked,
                    Ok(false) => return Stepped::Down,
                    Err(err) => self.leader_failed(&err),
                },
                _ = ticks.tick() => {
                    // Past the lease without a renewal, another process may lead already.
                    if renewed_at.elapsed() >= lease {
                        return Stepped::Down;
                    }
                    if self.shared.max_events.is_some_and(|last| next > last.get()) {
                        return Stepped::Done;
                    }
                    match self.append(epoch, next, make).await {
                        Ok(()) => next += 1,
                        Err(err) if is_index_taken(&err) => {
                            tracing::warn!(next, "index {next} is in the log already: stepping down");
                            return Stepped::Down;
                        }
                        Err(err) if is_another_epoch(&err) => {
                            tracing::warn!("the log in Redis is of another epoch: following it");
                            self.follow_epoch().await;
                            return Stepped::Down;
                        }
                        // The same index is tried again at the next tick: no hole.
                        Err(err) => self.leader_failed(&err),
                    }
                }
            }
        }
    }

    /// When to publish first: an interval after the last event delivered here (at once if
    /// that is past), so a takeover keeps the pace; an interval from now on a new stream.
    fn first_tick(&self, interval: Duration) -> Instant {
        let last = *self.shared.last_delivered.lock().unwrap_or_else(|poison| poison.into_inner());
        let now = Instant::now();
        last.unwrap_or(now).checked_add(interval).map_or(now, |due| due.max(now))
    }

    /// The index after the last one in Redis or here, whichever is later (Redis may have
    /// lost entries this process still holds).
    async fn next_index(&self) -> RedisResult<u64> {
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(&self.shared.keys.events).arg("+").arg("-").arg("COUNT").arg(1);
        let last: Vec<RawEntry> = self.shared.commands.query(&cmd).await?;
        let in_redis = last.first().and_then(|(id, _)| index_of(id)).unwrap_or(0);
        Ok(in_redis.max(self.shared.hub.last_index()) + 1)
    }

    /// Adds event `index` of `epoch` to the log; Redis refuses it if the index is not past
    /// the last, or the log is of another epoch.
    async fn append(
        &self,
        epoch: u64,
        index: u64,
        make: &mut impl FnMut(u64) -> T,
    ) -> RedisResult<()> {
        let json = serde_json::to_string(&make(index)).expect("payloads encode to JSON");
        let mut script = self.shared.scripts.append.prepare_invoke();
        script.key(&self.shared.keys.events).key(&self.shared.keys.epoch);
        script.arg(epoch).arg(self.shared.history.get()).arg(index).arg(json);
        let _: String = self.shared.commands.invoke(&script).await?;
        if self.shared.publishing.set(true) {
            tracing::info!("publishing to Redis again");
        }
        Ok(())
    }

    async fn hold_lease(&self) -> RedisResult<bool> {
        let mut script = self.shared.scripts.hold_lease.prepare_invoke();
        script.key(&self.shared.keys.leader).arg(&self.shared.instance);
        script.arg(self.shared.lease.as_millis() as u64);
        let held: i64 = self.shared.commands.invoke(&script).await?;
        Ok(held == 1)
    }

    async fn release(&self) {
        let mut script = self.shared.scripts.release_lease.prepare_invoke();
        script.key(&self.shared.keys.leader).arg(&self.shared.instance);
        match self.shared.commands.invoke::<i64>(&script).await {
            Ok(_) => tracing::info!("released the lease"),
            Err(err) => self.leader_failed(&err),
        }
    }

    fn leader_failed(&self, err: &RedisError) {
        self.shared.metrics.errors.inc();
        if self.shared.publishing.set(false) {
            tracing::warn!(%err, "Redis command of the publisher failed; retrying");
        }
    }

    /// Encoded events from `index` on, from Redis; if Redis cannot answer, the resume falls
    /// back to the local history (or a `gap`).
    async fn fetch_from(&self, index: u64) -> Fetched {
        let mut cmd = redis::cmd("XRANGE");
        // No COUNT: this process may keep fewer events than the log (`MAXLEN ~` bounds it).
        cmd.arg(&self.shared.keys.events).arg(format!("{index}-0")).arg("+");
        match self.shared.commands.query::<Vec<RawEntry>>(&cmd).await {
            Ok(entries) => {
                let epoch = self.shared.hub.epoch();
                let encode = |(index, data): (u64, String)| {
                    (index, frame::event(EventId { epoch, index }, &data))
                };
                let entries = entries.iter().filter_map(parse_entry).map(encode).collect();
                Fetched { entries, unreadable: false }
            }
            Err(err) => {
                self.shared.metrics.errors.inc();
                tracing::warn!(%err, "cannot read the history from Redis for a resume");
                Fetched { entries: Vec::new(), unreadable: true }
            }
        }
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
            // Redis, or the leader on learning it first, may have moved the stream to another
            // epoch: the entries may be of either, so they are read again once agreed.
            if epoch != Some(cursor.epoch) || self.shared.hub.epoch() != cursor.epoch {
                self.settle_epoch(&mut connection).await?;
                cursor = Cursor::at(&self.shared.hub);
                continue;
            }
            if let Some((id, _)) = entries.last() {
                cursor.after.clone_from(id);
            }
            for (index, data) in entries.iter().filter_map(parse_entry) {
                if self.deliver(EventId { epoch: cursor.epoch, index }, &data) {
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

    /// Agrees with Redis on the epoch (see the module's notes); when Redis keeps another one,
    /// the local hub starts over in it, to be read from the log.
    async fn settle_epoch(&self, connection: &mut MultiplexedConnection) -> RedisResult<()> {
        let hub = &self.shared.hub;
        let mine = hub.epoch();
        let proposal =
            Proposal { epoch: mine, latest: hub.latest_json(), history: self.shared.history };
        let (agreed, outcome) =
            proposal.join(connection, &self.shared.scripts, &self.shared.keys).await?;
        match outcome.as_str() {
            "set" => tracing::info!(epoch = mine, "Redis had lost the stream: gave it back"),
            "reclaimed" => tracing::warn!(
                epoch = mine,
                "Redis held a newer epoch, begun while it was empty: put this older one back"
            ),
            _ => {}
        }
        if agreed != mine {
            tracing::warn!(
                from = mine,
                to = agreed,
                "the other processes carry another epoch: following it; subscribers resume in it"
            );
            hub.restart(agreed);
        }
        Ok(())
    }

    /// Hands one entry to the local hub; `true` once it was the stream's last.
    fn deliver(&self, id: EventId, data: &str) -> bool {
        let index = id.index;
        match self.shared.hub.ingest(id, data) {
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
/// epoch in Redis once they were read. The epoch only changes by going down (see
/// [`JOIN_EPOCH`]) while the connection lives, so if it is this process's now, and was at the
/// last read, the entries are of it.
async fn read_after(
    connection: &mut MultiplexedConnection,
    keys: &Keys,
    after: &str,
) -> RedisResult<(Vec<RawEntry>, Option<u64>)> {
    let mut pipe = redis::pipe();
    pipe.cmd("XREAD").arg("COUNT").arg(READ_BATCH).arg("BLOCK").arg(READ_BLOCK.as_millis() as u64);
    pipe.arg("STREAMS").arg(&keys.events).arg(after);
    pipe.cmd("GET").arg(&keys.epoch);
    let (reply, epoch): (XreadReply, Option<u64>) = pipe.query_async(connection).await?;
    Ok((reply.into_iter().flatten().flat_map(|(_, entries)| entries).collect(), epoch))
}

/// The index and JSON of an entry; `None` (logged) for one this crate did not write.
fn parse_entry((id, fields): &RawEntry) -> Option<(u64, String)> {
    let data = fields.chunks(2).find(|pair| pair[0] == "data").and_then(|pair| pair.get(1));
    match (index_of(id), data) {
        (Some(index), Some(data)) => Some((index, data.clone())),
        _ => {
            tracing::warn!(id, "skipping a log entry without an `<index>-0` id and `data`");
            None
        }
    }
}

/// The index in an entry id `<index>-0`.
fn index_of(id: &str) -> Option<u64> {
    id.strip_suffix("-0")?.parse().ok()
}

/// Whether Redis refused an `XADD` because its id is not past the last entry's.
fn is_index_taken(err: &RedisError) -> bool {
    err.to_string().contains("equal or smaller")
}

/// Whether the leader's append was refused because the log is of another epoch ([`APPEND`]).
fn is_another_epoch(err: &RedisError) -> bool {
    err.code() == Some("EPOCH")
}

/// What a process brings to the agreement on the epoch ([`JOIN_EPOCH`]).
struct Proposal {
    epoch: u64,
    /// Its latest event's index and JSON, if it has one: it then carries a stream.
    latest: Option<(u64, String)>,
    history: NonZeroUsize,
}

impl Proposal {
    /// Runs the agreement; returns the epoch agreed on and what changed in Redis.
    async fn join(
        self,
        connection: &mut MultiplexedConnection,
        scripts: &Scripts,
        keys: &Keys,
    ) -> RedisResult<(u64, String)> {
        let (index, json) = self.latest.unwrap_or_default();
        let mut script = scripts.join_epoch.prepare_invoke();
        script.key(&keys.epoch).key(&keys.events);
        script.arg(self.epoch).arg(index).arg(json).arg(self.history.get());
        script.invoke_async(connection).await
    }
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

    #[test]
    fn entries_parse_to_their_index_and_data() {
        let entry = ("42-0".to_string(), vec!["data".to_string(), "{}".to_string()]);
        assert_eq!(parse_entry(&entry), Some((42, "{}".to_string())));
        let other = ("42-1".to_string(), vec!["data".to_string(), "{}".to_string()]);
        assert_eq!(parse_entry(&other), None);
        let no_data = ("42-0".to_string(), vec!["other".to_string(), "{}".to_string()]);
        assert_eq!(parse_entry(&no_data), None);
        let odd = ("42-0".to_string(), vec!["data".to_string()]);
        assert_eq!(parse_entry(&odd), None);
    }

    #[test]
    fn urls_are_checked_without_connecting() {
        assert!(RedisOptions::check_url("redis://127.0.0.1:6379/").is_ok());
        assert!(RedisOptions::check_url("http://127.0.0.1/").is_err());
        assert!(RedisOptions::check_url("not a url").is_err());
    }
}
