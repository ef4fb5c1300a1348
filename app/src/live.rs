//! The page's subscription: one `EventSource` on `/sse`, its latest event and its state as
//! reactive signals.
//!
//! `leptos-use-event-source` owns the `EventSource` (creation, listeners, `close()` when the
//! component unmounts). Two of its defaults do not fit and are replaced here:
//! - its `ready_state` reports `Closed` after every error, while the browser is often still
//!   reconnecting; the state below is read from the browser's own `readyState` instead;
//! - its own reconnect loop is turned off (`ReconnectLimit::Limited(0)`): the browser already
//!   reconnects after the server's `retry:`, and a `204` must stop the stream for good.

use crate::event::NamesEvent;
use codee::string::FromToStringCodec;
use leptos::prelude::*;
use leptos_use_event_source::{
    ReconnectLimit, UseEventSourceOnEventReturn, UseEventSourceOptions,
    use_event_source_with_options,
};
use sse_hub::CLOSE_EVENT;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventSource, MessageEvent};

/// Where the page subscribes.
pub const STREAM_URL: &str = "/sse";

/// The connection state as the browser reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection is being made.
    Connecting,
    /// Connected; events arrive.
    Open,
    /// The connection failed and the browser will try again (`readyState` is CONNECTING).
    Reconnecting,
    /// The browser gave up, or the page closed the stream after the server's `close` event.
    Closed,
}

impl ConnectionState {
    /// Stable name for the DOM (`data-state`) and for tests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Reconnecting => "reconnecting",
            Self::Closed => "closed",
        }
    }

    /// The state after an `error` event, from `EventSource.readyState` at that moment:
    /// CONNECTING means the browser will retry; anything else means it has given up.
    pub fn after_error(ready_state: u16) -> Self {
        if ready_state == EventSource::CONNECTING { Self::Reconnecting } else { Self::Closed }
    }
}

/// What the page knows of the stream.
#[derive(Clone, Copy)]
pub struct LiveNames {
    /// The latest data event, `None` until the first arrives.
    pub latest: ReadSignal<Option<NamesEvent>>,
    pub state: ReadSignal<ConnectionState>,
    /// Why the most recent data event was skipped, cleared by the next good one.
    pub skipped: ReadSignal<Option<String>>,
}

/// Subscribes to `url` when the page hydrates; renders as `Connecting` on the server.
pub fn use_live_names(url: &str) -> LiveNames {
    let (latest, set_latest) = signal(None::<NamesEvent>);
    let (state, set_state) = signal(ConnectionState::Connecting);
    let (skipped, set_skipped) = signal(None::<String>);

    let on_event = move |event: &Event| {
        let Some(source) = event.target().and_then(|t| t.dyn_into::<EventSource>().ok()) else {
            return UseEventSourceOnEventReturn::ProcessMessage;
        };
        match event.type_().as_str() {
            "open" => set_state.set(ConnectionState::Open),
            "error" => set_state.set(ConnectionState::after_error(source.ready_state())),
            CLOSE_EVENT => {
                source.close();
                set_state.set(ConnectionState::Closed);
            }
            "message" => match parse_message(event) {
                Ok(names) => {
                    set_latest.set(Some(names));
                    set_skipped.set(None);
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
        .named_events([CLOSE_EVENT.to_string()])
        .on_event(on_event);
    let _ = use_event_source_with_options::<String, FromToStringCodec>(url.to_string(), options);

    LiveNames { latest, state, skipped }
}

/// Reads a data event's JSON; the error says why it could not be used.
fn parse_message(event: &Event) -> Result<NamesEvent, String> {
    let data = event
        .dyn_ref::<MessageEvent>()
        .and_then(|message| message.data().as_string())
        .ok_or_else(|| "the event carried no text".to_string())?;
    serde_json::from_str(&data).map_err(|err| err.to_string())
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
}
