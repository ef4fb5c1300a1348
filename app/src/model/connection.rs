//! The connection's state machine: what the page shows, and what it does next, after each
//! thing the browser reports.
//!
//! ```text
//!             open                 error, browser retries (readyState CONNECTING)
//! Connecting ─────► Open ──────────────────────────────► Reconnecting ──open──► Open
//!     ▲               │ error, browser gave up (CLOSED)        ▲
//!     │               ▼                                        │ failed: wait (backoff)
//!     │            probe ── 200 text/event-stream ──► reopen   │
//!     │               ├──── 204 ─────────────────────────────► Closed (for good)
//!     │               └──── anything else / no answer ─────────┘
//!     └── silent for too long: reopen from the last id
//! close event ──► ClosedByServer (for good)   offline ──► Offline ──online──► Open | Reconnecting
//! pause ──► Paused ──resume──► Connecting
//! ```
//!
//! A browser's `EventSource` retries by itself only after a network error; any answer that is
//! not `200 text/event-stream` (a proxy's `502` while an instance restarts, an HTML error
//! page) makes it give up for good, and it ignores `Retry-After`. Only the server's `close`
//! event and a `204` are meant to end the stream, so after any other failure the page asks the
//! server once what it answers now (a probe: the glue fetches the stream's URL) and reopens
//! with exponential backoff and jitter, never hammering a server that is down.

use super::probe::{Failure, Probe};
use serde::{Deserialize, Serialize};

/// The first wait after a failed attempt; each further failure doubles it.
const FIRST_BACKOFF_MS: f64 = 1_000.0;
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: f64 = 30_000.0;

/// The connection's state, as the badge shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionState {
    /// The first connection is being made.
    Connecting,
    /// Connected; events arrive.
    Open,
    /// The connection failed and will be tried again, by the browser or by the page.
    Reconnecting,
    /// The server answered `204`: the stream is over.
    Closed,
    /// The server ended the stream with its `close` event, and the page closed it.
    ClosedByServer,
    /// The browser is offline; it reconnects once it is back.
    Offline,
    /// The reader paused this tab; resuming picks up after the last event it showed.
    Paused,
}

impl ConnectionState {
    /// Stable name for the DOM (`data-state`) and for tests: a stream closed by the server is
    /// `closed` too.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Reconnecting => "reconnecting",
            Self::Closed | Self::ClosedByServer => "closed",
            Self::Offline => "offline",
            Self::Paused => "paused",
        }
    }

    /// Whether the page is (or will be) listening: the states dead-link detection watches.
    pub fn is_listening(self) -> bool {
        matches!(self, Self::Open | Self::Connecting)
    }
}

/// The connection as the tab holding it sees it; other tabs show the same.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub state: ConnectionState,
    /// Times a dropped connection was re-established.
    pub reconnects: u64,
    /// Times the page found the link silent and reopened it itself.
    pub silent_reopens: u64,
    /// While reconnecting: the wait for the next attempt.
    pub retry: Option<RetryWait>,
    /// While the page retries by itself: what went wrong last.
    pub failure: Option<Failure>,
}

/// A wait for the next attempt, in `Date.now()` ms: scheduled at `from`, due at the latest
/// at `by`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryWait {
    pub from: f64,
    pub by: f64,
}

impl RetryWait {
    /// The whole seconds left at `now`, rounded up, as the badge counts them down; `None`
    /// once the attempt is due. A `now` before the wait began counts from its start: the
    /// badge's clock ticks once a second, so the time it holds can be older than the wait,
    /// which must never show longer than it is.
    pub fn seconds_left(&self, now: f64) -> Option<u64> {
        let seconds = ((self.by - now.max(self.from)) / 1000.0).ceil();
        (seconds > 0.0).then_some(seconds as u64)
    }
}

/// What the glue must do after the connection changed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// Nothing: the browser carries on by itself, or the stream is over.
    Wait,
    /// (Re)open the `EventSource` after the last event shown.
    Open,
    /// Close the `EventSource`, if any, ask the stream's URL what it answers now, and hand
    /// the answer to [`Connection::probed`] with this `generation`.
    Probe { generation: u32 },
    /// Call [`Connection::retry_due`] with this `generation` at `at_ms` (`Date.now()`).
    ProbeAt { at_ms: f64, generation: u32 },
}

/// The state machine of the module's diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    status: Status,
    /// Probes since the stream was last open: the backoff's exponent.
    attempts: u32,
    /// Whether the next `open` re-establishes a dropped connection (and counts as one).
    recovering: bool,
    /// Tells a due retry from one that was overtaken (paused, reopened) before it came.
    generation: u32,
    /// The backoff's jitter: a pseudo-random sequence, seeded per tab so that pages refused
    /// at the same moment do not come back in lockstep.
    jitter: u64,
}

impl Connection {
    /// A connection being made, its jitter drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        let status = Status {
            state: ConnectionState::Connecting,
            reconnects: 0,
            silent_reopens: 0,
            retry: None,
            failure: None,
        };
        Self { status, attempts: 0, recovering: false, generation: 0, jitter: seed }
    }

    /// The status to show.
    pub fn status(&self) -> Status {
        self.status
    }

    pub fn state(&self) -> ConnectionState {
        self.status.state
    }

    /// Shows another tab's status (this tab follows it); keeps nothing of its own.
    pub fn follow(&mut self, leader: Status) {
        self.status = leader;
    }

    /// The `EventSource` is being (re)opened.
    pub fn connecting(&mut self) {
        self.generation += 1;
        self.set(ConnectionState::Connecting, None);
    }

    /// The `EventSource` reports `open`.
    pub fn opened(&mut self) {
        if std::mem::take(&mut self.recovering) {
            self.status.reconnects += 1;
        }
        self.attempts = 0;
        self.status.failure = None;
        self.set(ConnectionState::Open, None);
    }

    /// The `EventSource` reports `error`. `browser_retries`: its `readyState` is CONNECTING,
    /// so the browser tries again within `retry_max_ms` by itself.
    pub fn errored(
        &mut self,
        browser_retries: bool,
        offline: bool,
        now: f64,
        retry_max_ms: f64,
    ) -> Next {
        self.recovering = true;
        if offline {
            self.set(ConnectionState::Offline, None);
            return Next::Wait;
        }
        if browser_retries {
            self.set(
                ConnectionState::Reconnecting,
                Some(RetryWait { from: now, by: now + retry_max_ms }),
            );
            return Next::Wait;
        }
        self.probe_after_backoff(now)
    }

    /// A probe answered.
    pub fn probed(&mut self, generation: u32, probe: Probe, now: f64) -> Next {
        if generation != self.generation {
            return Next::Wait; // Paused or reopened while the probe was under way.
        }
        match probe {
            Probe::Stream => Next::Open,
            Probe::Ended => {
                self.set(ConnectionState::Closed, None);
                Next::Wait
            }
            Probe::Failed(failure) => {
                self.status.failure = Some(failure);
                self.probe_after_backoff(now)
            }
        }
    }

    /// Probes at once after the first failure since the stream was open, and after a wait
    /// that doubles with each probe from then on: also when probes find the stream up but
    /// the `EventSource` still fails, so nothing loops without a wait.
    fn probe_after_backoff(&mut self, now: f64) -> Next {
        let waits = self.attempts.checked_sub(1);
        self.attempts = self.attempts.saturating_add(1);
        let Some(waits) = waits else {
            self.set(ConnectionState::Reconnecting, None);
            return self.next_probe();
        };
        let at_ms = now + backoff_ms(waits, self.next_random());
        self.generation += 1;
        self.set(ConnectionState::Reconnecting, Some(RetryWait { from: now, by: at_ms }));
        Next::ProbeAt { at_ms, generation: self.generation }
    }

    /// Uniform in [0, 1).
    fn next_random(&mut self) -> f64 {
        // SplitMix64: well spread even for seeds that differ in one bit.
        self.jitter = self.jitter.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.jitter;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// The wait of a [`Next::ProbeAt`] is over: probe, unless something overtook it.
    pub fn retry_due(&mut self, generation: u32) -> Next {
        if generation != self.generation {
            return Next::Wait;
        }
        self.status.retry = None;
        self.next_probe()
    }

    fn next_probe(&mut self) -> Next {
        self.generation += 1;
        Next::Probe { generation: self.generation }
    }

    /// The server sent its `close` event; the glue closes the `EventSource`.
    pub fn closed_by_server(&mut self) {
        self.set(ConnectionState::ClosedByServer, None);
    }

    /// The link was silent for longer than it may be: reopen from the last id.
    pub fn went_silent(&mut self) -> Next {
        self.status.silent_reopens += 1;
        Next::Open
    }

    /// The browser went offline: a stream that is listening or retrying waits for it.
    pub fn went_offline(&mut self) {
        if self.status.state.is_listening() || self.status.state == ConnectionState::Reconnecting {
            self.recovering = true;
            self.set(ConnectionState::Offline, None);
        }
    }

    /// The browser is back online; `source` is what its `EventSource` is doing now.
    pub fn came_online(&mut self, source: SourceState, now: f64, retry_max_ms: f64) -> Next {
        if self.status.state != ConnectionState::Offline {
            return Next::Wait;
        }
        match source {
            SourceState::Open => {
                self.recovering = false; // The connection survived: no reconnect to count.
                self.set(ConnectionState::Open, None);
                Next::Wait
            }
            SourceState::Connecting => self.errored(true, false, now, retry_max_ms),
            SourceState::Closed => self.errored(false, false, now, retry_max_ms),
        }
    }

    /// The reader paused this tab.
    pub fn pause(&mut self) {
        self.recovering = false;
        self.attempts = 0;
        self.generation += 1;
        self.status.failure = None;
        self.set(ConnectionState::Paused, None);
    }

    fn set(&mut self, state: ConnectionState, retry: Option<RetryWait>) {
        self.status.state = state;
        self.status.retry = retry;
    }
}

/// An `EventSource`'s `readyState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceState {
    Connecting,
    Open,
    Closed,
}

/// The wait before attempt `attempt + 1`: doubling from 1 s up to 30 s, drawn from the upper
/// half of that range ("equal jitter"), so that it keeps growing and still spreads clients.
pub fn backoff_ms(attempt: u32, random: f64) -> f64 {
    let ceiling = (FIRST_BACKOFF_MS * 2_f64.powi(attempt.min(16) as i32)).min(MAX_BACKOFF_MS);
    ceiling / 2.0 + random.clamp(0.0, 1.0) * ceiling / 2.0
}

#[cfg(test)]
mod tests;
