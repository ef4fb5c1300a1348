//! The page's subscription: one `EventSource` on `/sse`, its latest event, its state and a
//! log of what arrived, as reactive signals.
//!
//! `leptos-use-event-source` owns the `EventSource` (creation, listeners, `close()` when the
//! component unmounts). Two of its defaults do not fit and are replaced here:
//! - its `ready_state` reports `Closed` after every error, while the browser is often still
//!   reconnecting; the state below is read from the browser's own `readyState` instead;
//! - its own reconnect loop is turned off (`ReconnectLimit::Limited(0)`): the browser already
//!   reconnects after the server's `retry:` (sending `Last-Event-ID`, so the server resumes
//!   exactly), and a `204` must stop the stream for good.

use crate::event::{NamesEvent, PageSeed};
use codee::string::FromToStringCodec;
use leptos::prelude::*;
use leptos_use_event_source::{
    ConnectionReadyState, ReconnectLimit, UseEventSourceOnEventReturn, UseEventSourceOptions,
    use_event_source_with_options,
};
use sse_hub::{CLOSE_EVENT, GAP_EVENT, PING_EVENT};
use std::collections::VecDeque;
use std::time::Duration;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventSource, MessageEvent};

/// Where the page subscribes.
pub const STREAM_URL: &str = "/sse";

/// Entries the event log keeps, newest last.
pub const LOG_LENGTH: usize = 100;

/// The connection state as the browser reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// The reader paused the stream; resuming picks up after the last event received.
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
    pub fn label(self) -> &'static str {
        match self {
            Self::ClosedByServer => "closed by server",
            other => other.as_str(),
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

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A data event, by id and the time the server generated it.
    Event { id: String, info: String },
    /// The server could not resume: events before `first_available` were skipped.
    Gap { first_available: String },
}

/// What the page knows of the stream, and what it can do with it.
#[derive(Clone, Copy)]
pub struct LiveNames {
    /// The latest data event, `None` until the first arrives.
    pub latest: ReadSignal<Option<NamesEvent>>,
    pub state: ReadSignal<ConnectionState>,
    /// Why the most recent data event was skipped, cleared by the next good one.
    pub skipped: ReadSignal<Option<String>>,
    /// The last [`LOG_LENGTH`] events and gaps, oldest first.
    pub log: ReadSignal<VecDeque<LogEntry>>,
    /// Data events received since the page loaded.
    pub received: ReadSignal<u64>,
    /// Times the browser re-established a dropped connection.
    pub reconnects: ReadSignal<u64>,
    /// Times the page found the link silent and reopened it itself.
    pub silent_reopens: ReadSignal<u64>,
    /// When the latest data event arrived (`Date.now()`), `None` until one has.
    pub received_at: ReadSignal<Option<f64>>,
    /// Closes the stream until [`LiveNames::resume`].
    pub pause: Callback<()>,
    /// Reopens the stream after the last event received, so none in between is lost.
    pub resume: Callback<()>,
}

/// Subscribes when the page hydrates, from the event the server rendered the page with (if
/// any), so nothing published between render and subscribe is lost. Renders as
/// `Connecting` on the server.
pub fn use_live_names(seed: PageSeed) -> LiveNames {
    let PageSeed { rendered, interval_ms, heartbeat_ms } = seed;
    let (url, set_url) = signal(stream_url(rendered.as_ref().map(|r| r.id.as_str())));
    let initial_log = rendered.iter().map(|r| log_entry(&r.id, &r.event)).collect();
    let (latest, set_latest) = signal(rendered.map(|rendered| rendered.event));
    let (state, set_state) = signal(ConnectionState::Connecting);
    let (skipped, set_skipped) = signal(None::<String>);
    let (log, set_log) = signal::<VecDeque<LogEntry>>(initial_log);
    let (received, set_received) = signal(0_u64);
    let (reconnects, set_reconnects) = signal(0_u64);
    let (received_at, set_received_at) = signal(None::<f64>);
    let (silent_reopens, set_silent_reopens) = signal(0_u64);
    // When the stream last showed life (data, ping, gap, open), or was (re)opened.
    let last_sign = StoredValue::new(0.0_f64);
    let append = move |entry: LogEntry| {
        set_log.update(|log| {
            if log.len() == LOG_LENGTH {
                log.pop_front();
            }
            log.push_back(entry);
        })
    };

    let on_event = move |event: &Event| {
        let Some(source) = event.target().and_then(|t| t.dyn_into::<EventSource>().ok()) else {
            return UseEventSourceOnEventReturn::ProcessMessage;
        };
        if event.type_() != "error" {
            last_sign.set_value(js_sys::Date::now());
        }
        match event.type_().as_str() {
            "open" => {
                if state.get_untracked() == ConnectionState::Reconnecting {
                    set_reconnects.update(|count| *count += 1);
                }
                set_state.set(ConnectionState::Open);
            }
            "error" if is_offline() => set_state.set(ConnectionState::Offline),
            "error" => set_state.set(ConnectionState::after_error(source.ready_state())),
            CLOSE_EVENT => {
                source.close();
                set_state.set(ConnectionState::ClosedByServer);
            }
            GAP_EVENT => append(LogEntry::Gap { first_available: message_data(event) }),
            "message" => match parse_message(event) {
                Ok((id, names)) => {
                    append(log_entry(&id, &names));
                    set_latest.set(Some(names));
                    set_skipped.set(None);
                    set_received.update(|count| *count += 1);
                    set_received_at.set(Some(js_sys::Date::now()));
                }
                Err(reason) => set_skipped.set(Some(reason)),
            },
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

    let (open, close) = (source.open, source.close);
    let pause = Callback::new(move |()| {
        close();
        set_state.set(ConnectionState::Paused);
    });
    let resume = Callback::new(move |()| {
        set_state.set(ConnectionState::Connecting);
        last_sign.set_value(js_sys::Date::now());
        let from_last = log.with_untracked(|log| stream_url(last_event_id(log)));
        if url.get_untracked() == from_last {
            open();
        } else {
            // A new URL reopens the EventSource on it.
            set_url.set(from_last);
        }
    });

    follow_network(state, set_state, source.ready_state);
    let silence_limit = dead_link_after(interval_ms, heartbeat_ms);
    watch_for_silence(silence_limit, move || {
        let listening = state.get_untracked().is_listening();
        let silent_ms = js_sys::Date::now() - last_sign.get_value();
        if listening && silent_ms > silence_limit.as_millis() as f64 {
            // Browsers can hang on a half-open TCP connection for minutes without an error.
            set_silent_reopens.update(|count| *count += 1);
            resume.run(());
        }
    });

    LiveNames {
        latest,
        state,
        skipped,
        log,
        received,
        reconnects,
        silent_reopens,
        received_at,
        pause,
        resume,
    }
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

/// Shows `Offline` while the browser is offline; once it is back, `Open` if the connection
/// survived (no `open` event will come then), `Reconnecting` otherwise (the EventSource
/// reconnects by itself). A stream that is closed or paused stays so.
fn follow_network(
    state: ReadSignal<ConnectionState>,
    set_state: WriteSignal<ConnectionState>,
    source_state: Signal<ConnectionReadyState>,
) {
    let offline = window_event_listener(leptos::ev::offline, move |_| {
        if state.get_untracked().is_listening()
            || state.get_untracked() == ConnectionState::Reconnecting
        {
            set_state.set(ConnectionState::Offline);
        }
    });
    let online = window_event_listener(leptos::ev::online, move |_| {
        if state.get_untracked() == ConnectionState::Offline {
            let survived = source_state.get_untracked() == ConnectionReadyState::Open;
            set_state.set(if survived {
                ConnectionState::Open
            } else {
                ConnectionState::Reconnecting
            });
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

fn log_entry(id: &str, event: &NamesEvent) -> LogEntry {
    LogEntry::Event { id: id.to_string(), info: event.info.clone() }
}

fn message_data(event: &Event) -> String {
    event.dyn_ref::<MessageEvent>().and_then(|m| m.data().as_string()).unwrap_or_default()
}

/// Reads a data event's id and JSON; the error says why it could not be used.
fn parse_message(event: &Event) -> Result<(String, NamesEvent), String> {
    let message = event.dyn_ref::<MessageEvent>().ok_or("the event carried no message")?;
    let data = message.data().as_string().ok_or("the event carried no text")?;
    let names = serde_json::from_str(&data).map_err(|err| err.to_string())?;
    Ok((message.last_event_id(), names))
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
        let event = |id: &str| LogEntry::Event { id: id.into(), info: String::new() };
        let gap = LogEntry::Gap { first_available: "9-1".into() };
        assert_eq!(last_event_id(&VecDeque::new()), None);
        assert_eq!(last_event_id(&VecDeque::from([event("1-4"), gap.clone()])), Some("1-4"));
        assert_eq!(last_event_id(&VecDeque::from([gap, event("9-5")])), Some("9-5"));
    }

    #[test]
    fn a_link_is_dead_after_two_and_a_half_of_the_longer_period() {
        assert_eq!(dead_link_after(3_000, 15_000), Duration::from_millis(37_500));
        assert_eq!(dead_link_after(20_000, 15_000), Duration::from_secs(50));
        assert_eq!(dead_link_after(0, 0), Duration::ZERO);
    }
}
