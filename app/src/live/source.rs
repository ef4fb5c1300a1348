//! This tab's `EventSource`: opened on a URL, what it reports turned into [`SourceEvent`]s,
//! closed when dropped.
//!
//! The browser's own reconnect is kept: after a network error it retries after the server's
//! `retry:`, sending `Last-Event-ID`, so the server resumes exactly. What it does not do (try
//! again after a refusal) is the model's job ([`crate::model::connection`]).

use crate::event::NamesEvent;
use crate::model::SourceEvent;
use crate::model::connection::SourceState;
use crate::model::feed::{Arrival, Item, Shown};
use sse_hub::{CLOSE_EVENT, EventId, GAP_EVENT, PING_EVENT};
use wasm_bindgen::prelude::*;
use web_sys::{Event, EventSource, MessageEvent};

/// The events listened to: the built-in ones and the stream's named events.
const EVENT_TYPES: [&str; 6] = ["open", "error", "message", CLOSE_EVENT, GAP_EVENT, PING_EVENT];

/// An open `EventSource` and its listener.
pub struct Source {
    source: EventSource,
    /// Keeps the listener alive as long as the source.
    _listener: Closure<dyn Fn(Event)>,
}

impl Source {
    /// Opens an `EventSource` on `url`, handing what it reports to `on_event`; `None` if the
    /// browser refuses the URL.
    pub fn open(url: &str, on_event: impl Fn(SourceEvent) + 'static) -> Option<Self> {
        let source = EventSource::new(url).ok()?;
        let listener = Closure::<dyn Fn(Event)>::new(move |event: Event| {
            if let Some(event) = source_event(&event) {
                on_event(event);
            }
        });
        for event_type in EVENT_TYPES {
            let callback = listener.as_ref().unchecked_ref();
            source.add_event_listener_with_callback(event_type, callback).ok()?;
        }
        Some(Self { source, _listener: listener })
    }

    /// What the source is doing now.
    pub fn state(&self) -> SourceState {
        match self.source.ready_state() {
            EventSource::OPEN => SourceState::Open,
            EventSource::CONNECTING => SourceState::Connecting,
            _ => SourceState::Closed,
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.source.close();
    }
}

fn source_event(event: &Event) -> Option<SourceEvent> {
    let source: EventSource = event.target()?.dyn_into().ok()?;
    Some(match event.type_().as_str() {
        "open" => SourceEvent::Opened,
        "error" => SourceEvent::Errored {
            browser_retries: source.ready_state() == EventSource::CONNECTING,
            offline: is_offline(),
        },
        CLOSE_EVENT => SourceEvent::Closed,
        PING_EVENT => SourceEvent::Ping,
        GAP_EVENT => SourceEvent::Item(gap(&message_data(event))),
        _ => SourceEvent::Item(data_event(event)),
    })
}

/// A data event as the feed takes it, stamped with its arrival.
fn data_event(event: &Event) -> Item {
    match read(event) {
        Ok(shown) => Item::Data(shown),
        Err(reason) => Item::Unreadable { reason },
    }
}

fn read(event: &Event) -> Result<Shown, String> {
    let id = event.dyn_ref::<MessageEvent>().map(MessageEvent::last_event_id).unwrap_or_default();
    let id = id.parse::<EventId>().map_err(|err| err.to_string())?;
    let data = message_data(event);
    let event = serde_json::from_str::<NamesEvent>(&data).map_err(|err| err.to_string())?;
    let at_ms = js_sys::Date::now();
    // Date.parse is the browser's; `info` is RFC 3339.
    let delay = at_ms - js_sys::Date::parse(&event.info);
    let delay_ms = delay.is_finite().then_some(delay as i64);
    Ok(Shown { id, event, arrival: Some(Arrival { at_ms, delay_ms }) })
}

fn gap(data: &str) -> Item {
    match data.parse() {
        Ok(first_available) => Item::Gap { first_available },
        Err(err) => Item::Unreadable { reason: err.to_string() },
    }
}

fn message_data(event: &Event) -> String {
    event.dyn_ref::<MessageEvent>().and_then(|m| m.data().as_string()).unwrap_or_default()
}

/// Whether the browser says it is offline.
fn is_offline() -> bool {
    web_sys::window().is_some_and(|window| !window.navigator().on_line())
}
