//! Types that cross the wire: the JSON payload of each data event and the SSE event id.
//! Defined once here and used by both the server and the WASM page.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Name of the custom SSE event that tells the browser the stream is over.
pub const CLOSE_EVENT: &str = "close";

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

/// An SSE event id, `<epoch>-<index>`: the stream's start in Unix milliseconds, so ids of an
/// earlier server run can be told apart, and the event's index in that stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    pub epoch: u64,
    pub index: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.index)
    }
}

/// Why a string is not an [`EventId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidEventId;

impl fmt::Display for InvalidEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event id is two whole numbers joined by '-', like 1764000000000-42")
    }
}

impl std::error::Error for InvalidEventId {}

impl FromStr for EventId {
    type Err = InvalidEventId;

    /// Accepts exactly `<digits>-<digits>`, each fitting a `u64`; `u64::from_str` alone would
    /// also take a leading `+`, which no id we send contains.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (epoch, index) = s.split_once('-').ok_or(InvalidEventId)?;
        Ok(Self { epoch: parse_digits(epoch)?, index: parse_digits(index)? })
    }
}

fn parse_digits(s: &str) -> Result<u64, InvalidEventId> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidEventId);
    }
    s.parse().map_err(|_| InvalidEventId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_round_trips_through_its_text_form() {
        let id = EventId { epoch: 1_764_000_000_123, index: 42 };
        assert_eq!(id.to_string(), "1764000000123-42");
        assert_eq!("1764000000123-42".parse(), Ok(id));
        let max = format!("{0}-{0}", u64::MAX);
        assert_eq!(max.parse(), Ok(EventId { epoch: u64::MAX, index: u64::MAX }));
    }

    #[test]
    fn event_id_rejects_anything_but_two_u64s() {
        for bad in [
            "",
            "-",
            "42",
            "1-",
            "-1",
            "1--2",
            "1-2-3",
            "+1-2",
            "1-+2",
            "1 -2",
            "a-1",
            "1-0x2",
            "-1-2",
            "18446744073709551616-1",
            "1-18446744073709551616",
        ] {
            assert_eq!(bad.parse::<EventId>(), Err(InvalidEventId), "{bad:?}");
        }
    }

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
