//! The JSON payload of each data event, defined once here and used by both the server and
//! the WASM page. Event ids and event names are the stream's protocol: see `sse_hub`.

use crate::i18n::Lang;
use serde::{Deserialize, Serialize};
use sse_hub::EventId;

/// One table row: a name and the position in the surname string it was built from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameEntry {
    pub name: String,
    pub value: u32,
}

/// The JSON payload of every data event, shaped as in the classic example:
/// `{"list":[10 × {"name","value"}],"info":"<RFC 3339 UTC>","index":N}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamesEvent {
    pub list: Vec<NameEntry>,
    /// When the server generated the event, RFC 3339 in UTC with milliseconds.
    pub info: String,
    /// Position of the event in its stream, from 1.
    pub index: u64,
}

/// The latest event and its id, as the server rendered the page with it: the page shows it
/// at once and subscribes from its id, so nothing between render and subscribe is lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedEvent {
    pub id: EventId,
    pub event: NamesEvent,
}

/// What the server gives the page to start with, computed per request and carried into
/// hydration: the event it was rendered with, the stream's pace for dead-link detection, and
/// the language.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSeed {
    pub rendered: Option<RenderedEvent>,
    /// Milliseconds between events.
    pub interval_ms: u64,
    /// Milliseconds between heartbeats.
    pub heartbeat_ms: u64,
    /// The longest `retry:` the server sends (it jitters each connection's): the browser
    /// tries again within this many milliseconds of a dropped connection.
    pub retry_max_ms: u64,
    /// The language the page is rendered in.
    pub lang: Lang,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_serializes_to_the_classic_shape() {
        let event = NamesEvent {
            list: vec![NameEntry { name: "赵".into(), value: 0 }],
            info: "2026-11-24T10:00:00.123Z".into(),
            index: 1,
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"list":[{"name":"赵","value":0}],"info":"2026-11-24T10:00:00.123Z","index":1}"#
        );
    }
}
