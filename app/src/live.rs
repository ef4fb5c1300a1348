//! The page's subscription: one `EventSource` on `/sse` per browser, its latest event, its
//! state and a log of what arrived, as reactive signals.
//!
//! One tab holds the connection (see [`crate::tabs`]): it turns what its `EventSource` reports
//! into [`TabMessage`]s, applies them itself and posts them to the other tabs, which apply the
//! same messages. Every tab keeps its own log and can pause on its own.
//!
//! `leptos-use-event-source` owns the `EventSource` (creation, listeners, `close()` when the
//! component unmounts); the URL signal says whether this tab holds one (empty: none). Two of
//! its defaults do not fit and are replaced here:
//! - its `ready_state` reports `Closed` after every error, while the browser is often still
//!   reconnecting; the state below is read from the browser's own `readyState` instead;
//! - its own reconnect loop is turned off (`ReconnectLimit::Limited(0)`): the browser already
//!   reconnects after the server's `retry:` (sending `Last-Event-ID`, so the server resumes
//!   exactly), and a `204` must stop the stream for good.

use crate::event::{NamesEvent, PageSeed, RenderedEvent};
use crate::i18n::Texts;
use crate::tabs::TabLink;
use codee::string::FromToStringCodec;
use leptos::prelude::*;
use leptos_use_event_source::{
    ConnectionReadyState, ReconnectLimit, UseEventSourceOnEventReturn, UseEventSourceOptions,
    use_event_source_with_options,
};
use serde::{Deserialize, Serialize};
use sse_hub::{CLOSE_EVENT, EventId, GAP_EVENT, PING_EVENT};
use std::collections::VecDeque;
use std::time::Duration;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventSource, MessageEvent};

/// Where the page subscribes.
pub const STREAM_URL: &str = "/sse";

/// Entries the event log keeps, newest last.
pub const LOG_LENGTH: usize = 20;

/// Data events every tab keeps (the last it showed) to replay, once it leads, to a tab that
/// joins or resumes: any tab may become the leader, and the one that leads may have loaded
/// after a tab that is still catching up.
const REPLAY_LENGTH: usize = 64;

/// Data events a tab holds while paused, or until the leader's replay arrives; older ones are
/// dropped, and the log then shows a gap.
const HELD_LENGTH: usize = 1024;

/// The connection state as the browser reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionState {
    /// The first connection is being made.
    Connecting,
    /// Connected; events arrive.
    Open,
    /// The connection failed and the browser will try again (`readyState` is CONNECTING).
    Reconnecting,
    /// The browser gave up (a `204`, or an error it does not retry).
    Closed,
    /// The server ended the stream with its `close` event, and the page closed it.
    ClosedByServer,
    /// The browser is offline; it reconnects once it is back.
    Offline,
    /// The reader paused this tab; resuming picks up after the last event it showed.
    Paused,
}

impl ConnectionState {
    /// Stable name for the DOM (`data-state`) and for tests: the EventSource's view, so a
    /// stream closed by the server is `closed` too.
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

    /// The state in words, for the badge.
    pub fn label(self, texts: &Texts) -> &'static str {
        match self {
            Self::Connecting => texts.connecting,
            Self::Open => texts.open,
            Self::Reconnecting => texts.reconnecting,
            Self::Closed => texts.closed,
            Self::ClosedByServer => texts.closed_by_server,
            Self::Offline => texts.offline,
            Self::Paused => texts.paused,
        }
    }

    /// Whether the page is (or will be) listening: the states dead-link detection watches.
    fn is_listening(self) -> bool {
        matches!(self, Self::Open | Self::Connecting)
    }

    /// The state after an `error` event, from `EventSource.readyState` at that moment:
    /// CONNECTING means the browser will retry; anything else means it has given up.
    pub fn after_error(ready_state: u16) -> Self {
        if ready_state == EventSource::CONNECTING { Self::Reconnecting } else { Self::Closed }
    }
}

/// The connection as the tab holding it sees it; other tabs show the same.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub state: ConnectionState,
    /// Times the browser re-established a dropped connection.
    pub reconnects: u64,
    /// Times the page found the link silent and reopened it itself.
    pub silent_reopens: u64,
    /// While reconnecting: when the browser tries again at the latest (`Date.now()` ms).
    pub retry_by: Option<f64>,
}

impl Status {
    fn new(state: ConnectionState) -> Self {
        Self { state, reconnects: 0, silent_reopens: 0, retry_by: None }
    }
}

/// Which tab holds the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// This tab has a connection of its own: the browser cannot share one between tabs.
    Solo,
    /// This tab holds the connection and shares it with the others.
    Leader,
    /// Another tab's connection feeds this one.
    Follower,
}

impl Role {
    /// Stable name for the DOM (`data-role`) and for tests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Solo => "solo",
            Self::Leader => "leader",
            Self::Follower => "follower",
        }
    }

    fn holds_connection(self) -> bool {
        self != Self::Follower
    }
}

/// What one tab tells the others, and what the connection's holder applies itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum TabMessage {
    /// A data event: its id, its JSON, and when it arrived (`Date.now()` ms; `None` for the
    /// event a page was rendered with).
    Data { id: String, data: String, received_at: Option<f64> },
    /// The server could not resume: events before `first_available` were skipped.
    Gap { first_available: String },
    /// The connection's state changed.
    Status(Status),
    /// Tab `tab` joined or resumed, having every event up to `after`: the leader replays what
    /// it kept after that, then sends `Welcome`.
    Hello { tab: u32, after: Option<String> },
    /// The end of the replay for tab `tab`, and how the connection is.
    Welcome { tab: u32, status: Status },
}

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A data event: its id, when the server generated it, and how long it took to arrive
    /// (unknown for the event the page was rendered with).
    Event { id: String, info: String, delay_ms: Option<i64> },
    /// Events before `first_available` were skipped.
    Gap { first_available: String },
}

/// What the page knows of the stream, and what it can do with it.
#[derive(Clone, Copy)]
pub struct LiveNames {
    /// The latest data event, `None` until the first arrives.
    pub latest: ReadSignal<Option<NamesEvent>>,
    pub status: ReadSignal<Status>,
    pub role: ReadSignal<Role>,
    /// Why the most recent data event was skipped, cleared by the next good one.
    pub skipped: ReadSignal<Option<String>>,
    /// The last [`LOG_LENGTH`] events and gaps, oldest first.
    pub log: ReadSignal<VecDeque<LogEntry>>,
    /// Data events this tab received since it loaded.
    pub received: ReadSignal<u64>,
    /// When the latest data event arrived (`Date.now()`), `None` until one has.
    pub received_at: ReadSignal<Option<f64>>,
    /// Stops showing events until [`LiveNames::resume`]; a tab holding the connection
    /// closes it (or hands it to another tab).
    pub pause: Callback<()>,
    /// Shows every event since the pause, then live ones again: none in between is lost.
    pub resume: Callback<()>,
}

/// Subscribes when the page hydrates, from the event the server rendered the page with (if
/// any), so nothing published between render and subscribe is lost. Renders as
/// `Connecting` on the server.
pub fn use_live_names(seed: PageSeed) -> LiveNames {
    let PageSeed { rendered, interval_ms, heartbeat_ms, retry_max_ms, .. } = seed;
    let initial_log = rendered.iter().map(|r| log_entry(&r.id, &r.event, None)).collect();
    let replay = StoredValue::new(rendered.iter().map(TabMessage::rendered).collect());
    let (latest, set_latest) = signal(rendered.map(|rendered| rendered.event));
    let (status, set_status) = signal(Status::new(ConnectionState::Connecting));
    let (role, set_role) = signal(Role::Solo);
    let (skipped, set_skipped) = signal(None::<String>);
    let (log, set_log) = signal::<VecDeque<LogEntry>>(initial_log);
    let (received, set_received) = signal(0_u64);
    let (received_at, set_received_at) = signal(None::<f64>);
    // Empty while this tab holds no connection.
    let (url, set_url) = signal(String::new());
    let link = StoredValue::new_local(None::<TabLink>);
    // Held while paused, or from saying Hello until the leader's Welcome ends the replay:
    // live events can overtake the replay, so held events are shown in id order.
    let held = StoredValue::new(VecDeque::<TabMessage>::new());
    let syncing = StoredValue::new(false);
    // When the stream last showed life (data, ping, gap, open), or was (re)opened.
    let last_sign = StoredValue::new(0.0_f64);
    let set_state = move |state| set_status.update(|status| status.state = state);
    let paused = move || status.get_untracked().state == ConnectionState::Paused;
    let post = move |message: &TabMessage| {
        let text = serde_json::to_string(message).expect("tab messages encode to JSON");
        link.with_value(|link| link.iter().for_each(|link| link.post(&text)));
    };
    let append = move |entry: LogEntry| set_log.update(|log| push_bounded(log, entry, LOG_LENGTH));

    let show_data = move |id: String, data: String, at: Option<f64>| {
        let previous = log.with_untracked(|log| last_event_id(log).map(str::to_string));
        match continuity(previous.as_deref(), &id) {
            Continuity::Repeat => return,
            Continuity::Jump => append(LogEntry::Gap { first_available: id.clone() }),
            Continuity::Next => {}
        }
        match serde_json::from_str::<NamesEvent>(&data) {
            Ok(names) => {
                append(log_entry(&id, &names, at));
                set_latest.set(Some(names));
                set_skipped.set(None);
                set_received.update(|count| *count += 1);
                if at.is_some() {
                    set_received_at.set(at);
                }
                let shown = TabMessage::Data { id, data, received_at: at };
                replay.update_value(|kept| push_bounded(kept, shown, REPLAY_LENGTH));
            }
            Err(err) => set_skipped.set(Some(err.to_string())),
        }
    };

    let show = move |message: TabMessage| match message {
        TabMessage::Data { id, data, received_at } => show_data(id, data, received_at),
        TabMessage::Gap { first_available } => append(LogEntry::Gap { first_available }),
        TabMessage::Status(_) | TabMessage::Hello { .. } | TabMessage::Welcome { .. } => {}
    };
    let show_held = move || {
        syncing.set_value(false);
        let mut messages = Vec::from(held.try_update_value(std::mem::take).unwrap_or_default());
        messages.sort_by_key(TabMessage::event_id);
        messages.into_iter().for_each(show);
    };

    // Tells other tabs' Hello and Welcome apart from this tab's; drawn when joining them.
    let this_tab = StoredValue::new(0_u32);
    let hello = move || {
        syncing.set_value(true);
        post(&TabMessage::Hello {
            tab: this_tab.get_value(),
            after: log.with_untracked(|log| last_event_id(log).map(str::to_string)),
        })
    };
    let follow = move |leader: Status| {
        if role.get_untracked() == Role::Follower && !paused() {
            set_status.set(leader);
        }
    };
    // Every message, from this tab's own connection or another tab's, goes through here.
    let receive = move |message: TabMessage| match message {
        TabMessage::Status(leader) => {
            follow(leader);
            if syncing.get_value() {
                // A Hello sent while no tab led went unanswered; this one has a leader.
                hello();
            }
        }
        TabMessage::Welcome { tab, status } => {
            if tab == this_tab.get_value() && syncing.get_value() {
                follow(status);
                show_held();
            }
        }
        TabMessage::Hello { tab, after } => {
            if role.get_untracked() == Role::Leader {
                replay.with_value(|kept| {
                    kept.iter().filter(|m| is_after(m, after.as_deref())).for_each(post)
                });
                post(&TabMessage::Welcome { tab, status: status.get_untracked() });
            }
        }
        _ if paused() || syncing.get_value() => {
            held.update_value(|held| push_bounded(held, message, HELD_LENGTH))
        }
        _ => show(message),
    };
    // What this tab's own connection received: applied here, and shared when leading.
    let share = move |message: TabMessage| {
        if role.get_untracked() == Role::Leader {
            post(&message);
        }
        receive(message);
    };

    let on_event = move |event: &Event| {
        let Some(source) = event.target().and_then(|t| t.dyn_into::<EventSource>().ok()) else {
            return UseEventSourceOnEventReturn::ProcessMessage;
        };
        let now = js_sys::Date::now();
        if event.type_() != "error" {
            last_sign.set_value(now);
        }
        match event.type_().as_str() {
            "open" => set_status.update(|status| {
                if status.state == ConnectionState::Reconnecting {
                    status.reconnects += 1;
                }
                *status = Status { state: ConnectionState::Open, retry_by: None, ..*status };
            }),
            "error" if is_offline() => set_state(ConnectionState::Offline),
            "error" => set_status.update(|status| {
                status.state = ConnectionState::after_error(source.ready_state());
                status.retry_by = (status.state == ConnectionState::Reconnecting)
                    .then_some(now + retry_max_ms as f64);
            }),
            CLOSE_EVENT => {
                source.close();
                set_state(ConnectionState::ClosedByServer);
            }
            GAP_EVENT => share(TabMessage::Gap { first_available: message_data(event) }),
            "message" => {
                let id = event.dyn_ref::<MessageEvent>().map(|m| m.last_event_id());
                let (id, data) = (id.unwrap_or_default(), message_data(event));
                share(TabMessage::Data { id, data, received_at: Some(now) });
            }
            _ => {}
        }
        // Everything the page needs is handled above; the crate's own decoding is not used.
        UseEventSourceOnEventReturn::IgnoreProcessingMessage
    };

    let options = UseEventSourceOptions::default()
        .reconnect_limit(ReconnectLimit::Limited(0))
        .named_events([CLOSE_EVENT, GAP_EVENT, PING_EVENT].map(String::from))
        .on_event(on_event);
    let source = use_event_source_with_options::<String, FromToStringCodec>(url, options);

    // Opens this tab's connection after the last event it showed. The server replays every
    // event since, so what the tab held (while paused, or from another tab) is dropped.
    // Stored, so that every closure below that may connect can be `Copy`.
    let open = StoredValue::new(source.open);
    let connect = move || {
        syncing.set_value(false);
        held.set_value(VecDeque::new());
        set_state(ConnectionState::Connecting);
        last_sign.set_value(js_sys::Date::now());
        let from_last = log.with_untracked(|log| stream_url(last_event_id(log)));
        if url.get_untracked() == from_last {
            open.with_value(|open| open());
        } else {
            // A new URL reopens the EventSource on it.
            set_url.set(from_last);
        }
    };
    let take_lead = move || {
        if paused() {
            return false;
        }
        set_role.set(Role::Leader);
        connect();
        true
    };
    let request_lead =
        move || link.with_value(|link| link.iter().for_each(|l| l.request_lead(take_lead)));

    // The browser only: join the other tabs, or connect alone where they can't be joined.
    Effect::new(move |_| {
        let joined = TabLink::join(move |text| {
            if let Ok(message) = serde_json::from_str(text) {
                receive(message);
            }
        });
        match joined {
            Some(joined) => {
                this_tab.set_value((js_sys::Math::random() * f64::from(u32::MAX)) as u32);
                set_role.set(Role::Follower);
                link.set_value(Some(joined));
                request_lead();
                hello();
            }
            None => connect(),
        }
    });
    on_cleanup(move || link.with_value(|link| link.iter().for_each(TabLink::leave)));
    // The leader tells the other tabs every change of the connection.
    Effect::new(move |_| {
        let status = status.get();
        if role.get_untracked() == Role::Leader {
            post(&TabMessage::Status(status));
        }
    });

    let pause = Callback::new(move |()| {
        if role.get_untracked() == Role::Leader {
            link.with_value(|link| link.iter().for_each(TabLink::release));
            set_role.set(Role::Follower);
        }
        set_url.set(String::new());
        set_state(ConnectionState::Paused);
    });
    let resume = Callback::new(move |()| {
        set_state(ConnectionState::Connecting);
        match role.get_untracked() {
            Role::Solo => connect(),
            _ => {
                request_lead();
                hello();
            }
        }
    });

    follow_network(role, status, set_state, source.ready_state);
    let silence_limit = dead_link_after(interval_ms, heartbeat_ms);
    watch_for_silence(silence_limit, move || {
        let holds = role.get_untracked().holds_connection();
        let listening = status.get_untracked().state.is_listening();
        let silent_ms = js_sys::Date::now() - last_sign.get_value();
        if holds && listening && silent_ms > silence_limit.as_millis() as f64 {
            // Browsers can hang on a half-open TCP connection for minutes without an error.
            set_status.update(|status| status.silent_reopens += 1);
            connect();
        }
    });

    LiveNames { latest, status, role, skipped, log, received, received_at, pause, resume }
}

/// How an event id follows the last one shown.
#[derive(Debug, PartialEq, Eq)]
enum Continuity {
    /// The next event, the first, or one of a new run of the server (which says so itself).
    Next,
    /// Already shown: a replay to a tab that had it.
    Repeat,
    /// Events between were missed (a paused tab's queue overflowed, or a replay fell short).
    Jump,
}

fn continuity(previous: Option<&str>, id: &str) -> Continuity {
    let (Some(previous), Ok(id)) =
        (previous.and_then(|p| p.parse::<EventId>().ok()), id.parse::<EventId>())
    else {
        return Continuity::Next;
    };
    match (id.epoch == previous.epoch, id.index) {
        (false, _) => Continuity::Next,
        (true, index) if index <= previous.index => Continuity::Repeat,
        (true, index) if index == previous.index + 1 => Continuity::Next,
        (true, _) => Continuity::Jump,
    }
}

impl TabMessage {
    /// The event the page was rendered with, as a data event (its arrival time unknown).
    fn rendered(rendered: &RenderedEvent) -> Self {
        let data = serde_json::to_string(&rendered.event).expect("events encode to JSON");
        Self::Data { id: rendered.id.clone(), data, received_at: None }
    }

    /// The id of a data event, or the first id after a gap.
    fn event_id(&self) -> Option<EventId> {
        match self {
            Self::Data { id, .. } | Self::Gap { first_available: id } => id.parse().ok(),
            Self::Status(_) | Self::Hello { .. } | Self::Welcome { .. } => None,
        }
    }
}

/// Whether a kept message is a data event after `id` (all of them when `id` is `None`).
fn is_after(message: &TabMessage, id: Option<&str>) -> bool {
    let TabMessage::Data { id: kept, .. } = message else { return false };
    continuity(id, kept) != Continuity::Repeat
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, limit: usize) {
    if queue.len() == limit {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// The id of the newest event in the log: the log only drops its oldest entries, so this is
/// the last event the page received (or was rendered with).
fn last_event_id(log: &VecDeque<LogEntry>) -> Option<&str> {
    log.iter().rev().find_map(|entry| match entry {
        LogEntry::Event { id, .. } => Some(id.as_str()),
        LogEntry::Gap { .. } => None,
    })
}

/// Whether the browser says it is offline.
fn is_offline() -> bool {
    web_sys::window().is_some_and(|window| !window.navigator().on_line())
}

/// In the tab holding the connection: shows `Offline` while the browser is offline; once it
/// is back, `Open` if the connection survived (no `open` event will come then),
/// `Reconnecting` otherwise (the EventSource reconnects by itself). A stream that is closed
/// or paused stays so. Other tabs show what the holder tells them.
fn follow_network(
    role: ReadSignal<Role>,
    status: ReadSignal<Status>,
    set_state: impl Fn(ConnectionState) + Clone + 'static,
    source_state: Signal<ConnectionReadyState>,
) {
    let state = move || status.get_untracked().state;
    let holds = move || role.get_untracked().holds_connection();
    let set_offline = set_state.clone();
    let offline = window_event_listener(leptos::ev::offline, move |_| {
        if holds() && (state().is_listening() || state() == ConnectionState::Reconnecting) {
            set_offline(ConnectionState::Offline);
        }
    });
    let online = window_event_listener(leptos::ev::online, move |_| {
        if holds() && state() == ConnectionState::Offline {
            let survived = source_state.get_untracked() == ConnectionReadyState::Open;
            set_state(if survived { ConnectionState::Open } else { ConnectionState::Reconnecting });
        }
    });
    on_cleanup(move || {
        offline.remove();
        online.remove();
    });
}

/// How long the link may be silent before it counts as dead: 2.5 × the longer of the
/// event interval and the heartbeat period (the server sends one or the other that often).
pub fn dead_link_after(interval_ms: u64, heartbeat_ms: u64) -> Duration {
    Duration::from_millis(interval_ms.max(heartbeat_ms).saturating_mul(5) / 2)
}

/// Runs `check` about 4 times per `silence_limit` (at least once a second), in the browser only.
fn watch_for_silence(silence_limit: Duration, check: impl Fn() + Clone + 'static) {
    if silence_limit.is_zero() {
        return; // No pace known (a page rendered without the server's seed).
    }
    let period = (silence_limit / 4).min(Duration::from_secs(1));
    Effect::new(move |_| {
        let handle = set_interval_with_handle(check.clone(), period).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
}

/// The stream's URL, resuming after `last_id` when there is one.
fn stream_url(last_id: Option<&str>) -> String {
    match last_id {
        Some(id) => format!("{STREAM_URL}?lastEventId={id}"),
        None => STREAM_URL.to_string(),
    }
}

/// A log line for an event received at `received_at` (`Date.now()` ms), if known.
fn log_entry(id: &str, event: &NamesEvent, received_at: Option<f64>) -> LogEntry {
    // Date.parse is the browser's; only events received there have a receive time.
    let delay = received_at.map(|at| at - js_sys::Date::parse(&event.info));
    let delay_ms = delay.filter(|delay| delay.is_finite()).map(|delay| delay as i64);
    LogEntry::Event { id: id.to_string(), info: event.info.clone(), delay_ms }
}

fn message_data(event: &Event) -> String {
    event.dyn_ref::<MessageEvent>().and_then(|m| m.data().as_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_while_connecting_means_reconnecting() {
        assert_eq!(
            ConnectionState::after_error(EventSource::CONNECTING),
            ConnectionState::Reconnecting
        );
        assert_eq!(ConnectionState::after_error(EventSource::CLOSED), ConnectionState::Closed);
    }

    #[test]
    fn the_last_event_id_skips_gaps() {
        let event =
            |id: &str| LogEntry::Event { id: id.into(), info: String::new(), delay_ms: None };
        let gap = LogEntry::Gap { first_available: "9-1".into() };
        assert_eq!(last_event_id(&VecDeque::new()), None);
        assert_eq!(last_event_id(&VecDeque::from([event("1-4"), gap.clone()])), Some("1-4"));
        assert_eq!(last_event_id(&VecDeque::from([gap, event("9-5")])), Some("9-5"));
    }

    #[test]
    fn ids_are_next_repeated_or_a_jump() {
        assert_eq!(continuity(None, "1-7"), Continuity::Next);
        assert_eq!(continuity(Some("1-6"), "1-7"), Continuity::Next);
        assert_eq!(continuity(Some("1-6"), "2-1"), Continuity::Next, "a new run says so itself");
        assert_eq!(continuity(Some("1-6"), "1-6"), Continuity::Repeat);
        assert_eq!(continuity(Some("1-6"), "1-2"), Continuity::Repeat);
        assert_eq!(continuity(Some("1-6"), "1-9"), Continuity::Jump);
        assert_eq!(continuity(Some("1-6"), "junk"), Continuity::Next);
    }

    #[test]
    fn a_bounded_queue_drops_its_oldest() {
        let mut queue = VecDeque::new();
        (1..=5).for_each(|n| push_bounded(&mut queue, n, 3));
        assert_eq!(queue, [3, 4, 5]);
    }

    #[test]
    fn a_link_is_dead_after_two_and_a_half_of_the_longer_period() {
        assert_eq!(dead_link_after(3_000, 15_000), Duration::from_millis(37_500));
        assert_eq!(dead_link_after(20_000, 15_000), Duration::from_secs(50));
        assert_eq!(dead_link_after(0, 0), Duration::ZERO);
    }
}
