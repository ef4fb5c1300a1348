//! The Redis side of the shared log: its keys, and the Lua scripts that read and write them.
//! Every check that guards a write runs inside Redis, in the same script as the write, so
//! no process's clock or view of Redis can let a stale writer through (see the parent
//! module's invariants).

use redis::Script;

/// The keys of one shared stream, all under one prefix.
pub(super) struct Keys {
    /// `<key>:events`, the Redis Stream: entry `<index>-0`, field `text` or `data` (the
    /// event's text or JSON), and `event` (its name) unless it is a `message`.
    pub(super) events: String,
    /// `<key>:epoch`, a hash: `epoch`, `last` (the last index appended), and `run` (the
    /// `run_id` of the Redis process the record was made in).
    pub(super) epoch: String,
    /// `<key>:leader`, the lease: `<process name>/<term>`, expiring unless renewed.
    pub(super) leader: String,
    /// `<key>:term`, a counter: every lease taken gets the next value, its fencing token.
    pub(super) term: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            events: format!("{prefix}:events"),
            epoch: format!("{prefix}:epoch"),
            leader: format!("{prefix}:leader"),
            term: format!("{prefix}:term"),
        }
    }
}

/// The Lua prelude that names the running Redis process: its `run_id` changes at every
/// restart, persisted data or not, so a record made before a restart can be told apart.
macro_rules! with_run_id {
    ($body:literal) => {
        concat!("local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')\n", $body)
    };
}

/// Agrees on the epoch. KEYS = epoch record, events; ARGV = this process's epoch (0: none
/// yet), the time now in Unix milliseconds. Returns the epoch to be on and what happened:
/// `kept` (the record is of this Redis process and not older than this process's epoch:
/// follow it), or a new epoch was begun because Redis had none (`new`: this process had
/// none either; `lost`: Redis lost it), restarted since it was recorded (`restarted`: its
/// data may be older than what was sent), or held one older than this process's (`older`:
/// a process with a slow clock began it after a loss). A new epoch is greater than the
/// time now, this process's epoch and the one stored, and its log starts empty.
const JOIN_EPOCH: &str = with_run_id!(
    r"
local record = redis.call('HMGET', KEYS[1], 'epoch', 'run')
local stored = tonumber(record[1])
local mine = tonumber(ARGV[1])
local outcome
if not stored then
    outcome = mine > 0 and 'lost' or 'new'
elseif record[2] ~= run then
    outcome = 'restarted'
elseif stored < mine then
    outcome = 'older'
else
    return {record[1], 'kept'}
end
local epoch = string.format('%d', math.max(tonumber(ARGV[2]), mine + 1, (stored or 0) + 1))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', epoch, 'last', 0, 'run', run)
return {epoch, outcome}"
);

/// Appends one event, fenced: only the holder of the current lease term, only to the log
/// of its epoch in this Redis process, only at the index right after the last. KEYS =
/// epoch record, events, lease; ARGV = epoch, lease value, index, history length, then the
/// entry's fields and values: `text` or `data` (JSON) and the event's data, and `event` and
/// its name if it has one.
const APPEND: &str = with_run_id!(
    r"
if redis.call('GET', KEYS[3]) ~= ARGV[2] then
    return redis.error_reply('FENCED the lease is not held by this term')
end
local record = redis.call('HMGET', KEYS[1], 'epoch', 'last', 'run')
if record[1] ~= ARGV[1] or record[3] ~= run then
    return redis.error_reply('EPOCH the log in Redis is of another epoch')
end
local next = tonumber(record[2]) + 1
if tonumber(ARGV[3]) ~= next then
    return redis.error_reply('INDEX the next index is ' .. next)
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], ARGV[3] .. '-0', unpack(ARGV, 5))
redis.call('HSET', KEYS[1], 'last', ARGV[3])
return next"
);

/// Takes the lease for a new term if it is free or was this process's own (a term it
/// stepped down from). KEYS = lease, term counter; ARGV = this process's name, lease in
/// milliseconds. Returns the lease's value `<name>/<term>`, or nil if another holds it.
const CAMPAIGN: &str = r"
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) ~= ARGV[1] .. '/' then
    return false
end
local value = ARGV[1] .. '/' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value";

/// Extends the lease if this term still holds it; 1 if so. KEYS = lease; ARGV = value, ms.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Deletes the lease only if this term holds it. KEYS = lease; ARGV = its value.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// The epoch and at most ARGV[2] entries from index ARGV[1] on, read together so the entries
/// are known to be of that epoch; no entries if the log no longer holds the one after
/// ARGV[1]. KEYS = epoch record, events.
const FETCH: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
if not first or tonumber(string.match(first[1], '^%d+')) > tonumber(ARGV[1]) + 1 then
    return {epoch, {}}
end
return {epoch, redis.call('XRANGE', KEYS[2], ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])}";

/// The scripts, sent once and then called by their hash.
pub(super) struct Scripts {
    pub(super) join_epoch: Script,
    pub(super) append: Script,
    pub(super) campaign: Script,
    pub(super) renew: Script,
    pub(super) release: Script,
    pub(super) fetch: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            join_epoch: Script::new(JOIN_EPOCH),
            append: Script::new(APPEND),
            campaign: Script::new(CAMPAIGN),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
            fetch: Script::new(FETCH),
        }
    }
}

/// Why Redis refused an append ([`APPEND`]); `None` for any other error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The lease is not this term's: it expired, was taken, or Redis lost it.
    Fenced,
    /// The log is of another epoch, or was recorded before Redis restarted.
    Epoch,
    /// The index is not the one after the last in the log.
    Index,
}

impl Refusal {
    pub(super) fn of(err: &redis::RedisError) -> Option<Self> {
        match err.code()? {
            "FENCED" => Some(Self::Fenced),
            "EPOCH" => Some(Self::Epoch),
            "INDEX" => Some(Self::Index),
            _ => None,
        }
    }
}
