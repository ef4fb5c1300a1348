//! What a client must know of the stream: event ids and the names of the named events.

use std::fmt;

/// Name of the event that ends the stream; a page closes its EventSource on it.
pub const CLOSE_EVENT: &str = "close";
/// Name of the event that says events were skipped; its data is the first id available.
pub const GAP_EVENT: &str = "gap";
/// Name of the heartbeat event; its data is the id of the last event sent on the connection.
pub const PING_EVENT: &str = "ping";
use std::str::FromStr;

/// An SSE event id, `<epoch>-<index>`: the stream's start in Unix milliseconds, so ids of an
/// earlier run can be told apart, and the event's index in that stream, from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// The stream's start, in Unix milliseconds.
    pub epoch: u64,
    /// The event's place in the stream, from 1.
    pub index: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.index)
    }
}

/// Why a string is not an [`EventId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Written as its text form, `<epoch>-<index>`, so ids read the same in JSON as on the wire.
#[cfg(feature = "serde")]
impl serde::Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
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
    use proptest::prelude::*;

    #[test]
    fn round_trips_through_its_text_form() {
        let id = EventId { epoch: 1_764_000_000_123, index: 42 };
        assert_eq!(id.to_string(), "1764000000123-42");
        assert_eq!("1764000000123-42".parse(), Ok(id));
        let max = format!("{0}-{0}", u64::MAX);
        assert_eq!(max.parse(), Ok(EventId { epoch: u64::MAX, index: u64::MAX }));
    }

    #[test]
    fn rejects_anything_but_two_u64s() {
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
            " 1-2",
            "a-1",
            "1-0x2",
            "-1-2",
            "1-2\n",
            "１-2",
            "18446744073709551616-1",
            "1-18446744073709551616",
        ] {
            assert_eq!(bad.parse::<EventId>(), Err(InvalidEventId), "{bad:?}");
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_reads_and_writes_the_text_form() {
        let id = EventId { epoch: 17, index: 4 };
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""17-4""#);
        assert_eq!(serde_json::from_str::<EventId>(r#""17-4""#).unwrap(), id);
        let bad = serde_json::from_str::<EventId>(r#""17""#).unwrap_err().to_string();
        assert!(bad.contains("two whole numbers"), "{bad}");
    }

    proptest! {
        #[test]
        fn every_id_parses_back_to_itself(epoch: u64, index: u64) {
            let id = EventId { epoch, index };
            prop_assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
        }

        #[test]
        fn any_text_parses_only_to_an_id_that_prints_as_that_text(text in "\\PC{0,40}") {
            // Whatever is accepted is canonical but for leading zeros: never a panic.
            if let Ok(id) = text.parse::<EventId>() {
                let (epoch, index) = text.split_once('-').unwrap();
                prop_assert_eq!(epoch.parse::<u64>().unwrap(), id.epoch);
                prop_assert_eq!(index.parse::<u64>().unwrap(), id.index);
            }
        }

        #[test]
        fn digit_strings_parse_when_they_fit(epoch in "[0-9]{1,25}", index in "[0-9]{1,25}") {
            let parsed = format!("{epoch}-{index}").parse::<EventId>();
            let fits = epoch.parse::<u64>().is_ok() && index.parse::<u64>().is_ok();
            prop_assert_eq!(parsed.is_ok(), fits);
        }
    }
}
