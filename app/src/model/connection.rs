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

/// Why the page is trying again by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// The server, or a proxy in front of it, answered with this status (`502` while an
    /// instance restarts, `503` when it is full).
    Status(u16),
    /// A `200` that is not an event stream: an HTML error page, a captive portal.
    NotAStream,
    /// No answer at all: the server or the network is down.
    Unreachable,
}

/// What the stream's URL answers now, as a probe found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `200 text/event-stream`: reopen now.
    Stream,
    /// `204 No Content`: the stream is over, for good.
    Ended,
    /// Anything else: wait and try again.
    Failed(Failure),
}

impl Probe {
    /// What a response with this status and `Content-Type` means for the stream.
    pub fn of_response(status: u16, content_type: Option<&str>) -> Self {
        let is_stream = content_type.is_some_and(|value| {
            value.split(';').next().is_some_and(|mime| mime.trim() == "text/event-stream")
        });
        match status {
            204 => Self::Ended,
            200 if is_stream => Self::Stream,
            200 => Self::Failed(Failure::NotAStream),
            status => Self::Failed(Failure::Status(status)),
        }
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
    /// While reconnecting: when the next attempt is due at the latest (`Date.now()` ms).
    pub retry_by: Option<f64>,
    /// While the page retries by itself: what went wrong last.
    pub failure: Option<Failure>,
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
    /// Failed attempts since the stream was last open: the backoff's exponent.
    attempts: u32,
    /// Whether the next `open` re-establishes a dropped connection (and counts as one).
    recovering: bool,
    /// Tells a due retry from one that was overtaken (paused, reopened) before it came.
    generation: u32,
}

impl Default for Connection {
    fn default() -> Self {
        let status = Status {
            state: ConnectionState::Connecting,
            reconnects: 0,
            silent_reopens: 0,
            retry_by: None,
            failure: None,
        };
        Self { status, attempts: 0, recovering: false, generation: 0 }
    }
}

impl Connection {
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
            self.set(ConnectionState::Reconnecting, Some(now + retry_max_ms));
            return Next::Wait;
        }
        self.set(ConnectionState::Reconnecting, None);
        self.next_probe()
    }

    /// A probe answered. `random` is uniform in [0, 1): the jitter, so that pages refused at
    /// the same moment do not come back in lockstep.
    pub fn probed(&mut self, generation: u32, probe: Probe, now: f64, random: f64) -> Next {
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
                let at_ms = now + backoff_ms(self.attempts, random);
                self.attempts = self.attempts.saturating_add(1);
                self.generation += 1;
                self.status.failure = Some(failure);
                self.set(ConnectionState::Reconnecting, Some(at_ms));
                Next::ProbeAt { at_ms, generation: self.generation }
            }
        }
    }

    /// The wait of a [`Next::ProbeAt`] is over: probe, unless something overtook it.
    pub fn retry_due(&mut self, generation: u32) -> Next {
        if generation != self.generation {
            return Next::Wait;
        }
        self.status.retry_by = None;
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

    fn set(&mut self, state: ConnectionState, retry_by: Option<f64>) {
        self.status.state = state;
        self.status.retry_by = retry_by;
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
mod tests {
    use super::*;

    const RETRY_MAX_MS: f64 = 12_000.0;

    /// The generation a probe must be answered with.
    fn probed(next: Next) -> u32 {
        let Next::Probe { generation } = next else { panic!("expected a probe, got {next:?}") };
        generation
    }

    fn open() -> Connection {
        let mut connection = Connection::default();
        connection.opened();
        connection
    }

    #[test]
    fn a_network_error_is_left_to_the_browser() {
        let mut connection = open();
        assert_eq!(connection.errored(true, false, 100.0, RETRY_MAX_MS), Next::Wait);
        assert_eq!(connection.state(), ConnectionState::Reconnecting);
        assert_eq!(connection.status().retry_by, Some(12_100.0));
        connection.opened();
        assert_eq!(connection.status().reconnects, 1);
        assert_eq!(connection.status().retry_by, None);
    }

    #[test]
    fn a_refusal_is_probed_then_retried_with_growing_waits() {
        let mut connection = open();
        let mut next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
        let mut waits = Vec::new();
        for _ in 0..7 {
            let failed = Probe::Failed(Failure::Status(502));
            let Next::ProbeAt { at_ms, generation } =
                connection.probed(probed(next), failed, 0.0, 0.999)
            else {
                panic!("a failed probe schedules the next one");
            };
            assert_eq!(connection.status().retry_by, Some(at_ms));
            assert_eq!(connection.status().failure, Some(Failure::Status(502)));
            waits.push((at_ms / 1000.0).round() as u32);
            next = connection.retry_due(generation);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(connection.probed(probed(next), Probe::Stream, 0.0, 0.5), Next::Open);
        connection.connecting();
        connection.opened();
        assert_eq!(connection.status().reconnects, 1);
        assert_eq!(connection.status().failure, None);
        // The next failure starts over from the shortest wait.
        let next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
        let failed = Probe::Failed(Failure::Unreachable);
        let Next::ProbeAt { at_ms, .. } = connection.probed(probed(next), failed, 0.0, 0.0) else {
            panic!("a failed probe schedules the next one");
        };
        assert_eq!(at_ms, 500.0);
    }

    #[test]
    fn a_204_ends_the_stream_for_good() {
        let mut connection = open();
        let next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
        assert_eq!(connection.probed(probed(next), Probe::Ended, 0.0, 0.5), Next::Wait);
        assert_eq!(connection.state(), ConnectionState::Closed);
    }

    #[test]
    fn a_retry_overtaken_by_a_pause_or_a_reopen_does_nothing() {
        let mut connection = open();
        let first = probed(connection.errored(false, false, 0.0, RETRY_MAX_MS));
        let failed = Probe::Failed(Failure::NotAStream);
        let Next::ProbeAt { generation, .. } = connection.probed(first, failed, 0.0, 0.5) else {
            panic!("a failed probe schedules the next one");
        };
        let second = probed(connection.retry_due(generation));
        connection.pause();
        assert_eq!(connection.retry_due(generation), Next::Wait);
        assert_eq!(connection.probed(second, Probe::Stream, 0.0, 0.5), Next::Wait, "a late probe");
        assert_eq!(connection.state(), ConnectionState::Paused);
        assert_eq!(connection.status().failure, None);
    }

    #[test]
    fn offline_then_online_follows_what_the_source_did() {
        for (source, state, next) in [
            (SourceState::Open, ConnectionState::Open, Next::Wait),
            (SourceState::Connecting, ConnectionState::Reconnecting, Next::Wait),
            (SourceState::Closed, ConnectionState::Reconnecting, Next::Probe { generation: 1 }),
        ] {
            let mut connection = open();
            connection.went_offline();
            assert_eq!(connection.state(), ConnectionState::Offline);
            assert_eq!(connection.came_online(source, 0.0, RETRY_MAX_MS), next, "{source:?}");
            assert_eq!(connection.state(), state, "{source:?}");
        }
        let mut paused = open();
        paused.pause();
        paused.went_offline();
        assert_eq!(paused.state(), ConnectionState::Paused, "a paused stream stays paused");
    }

    #[test]
    fn probes_read_status_and_content_type() {
        assert_eq!(Probe::of_response(200, Some("text/event-stream")), Probe::Stream);
        assert_eq!(
            Probe::of_response(200, Some("text/event-stream; charset=utf-8")),
            Probe::Stream
        );
        assert_eq!(Probe::of_response(200, Some("text/html")), Probe::Failed(Failure::NotAStream));
        assert_eq!(Probe::of_response(200, None), Probe::Failed(Failure::NotAStream));
        assert_eq!(Probe::of_response(204, None), Probe::Ended);
        assert_eq!(Probe::of_response(502, Some("text/html")), Probe::Failed(Failure::Status(502)));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        assert_eq!(backoff_ms(0, 0.0), 500.0);
        assert_eq!(backoff_ms(0, 1.0), 1_000.0);
        assert_eq!(backoff_ms(3, 0.5), 6_000.0);
        assert_eq!(backoff_ms(40, 1.0), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(40, 0.0), MAX_BACKOFF_MS / 2.0);
    }
}
