//! An event's name, its `event:` line: checked once, where it is made, so that no name can
//! break a stream's framing or pass for one of the hub's own events.

use crate::{CLOSE_EVENT, GAP_EVENT, PING_EVENT};
use std::borrow::Cow;
use std::fmt;

/// The name a page listens for with `addEventListener(name, ...)`. Most streams need none:
/// `Hub::publish` sends [`EventName::MESSAGE`], which `onmessage` receives. Publish under
/// another with `Hub::publish_named` (`RedisHub::lead_named` for a shared stream):
///
/// ```
/// use sse_hub::{EventName, InvalidEventName};
///
/// let price = EventName::new("price")?;
/// assert_eq!(price.as_str(), "price");
/// assert_eq!(EventName::new("gap"), Err(InvalidEventName::Reserved("gap")));
/// assert_eq!(EventName::new("message")?, EventName::MESSAGE);
/// # Ok::<(), InvalidEventName>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventName(Cow<'static, str>);

impl EventName {
    /// `message`, the browser's name for an event without an `event:` line. The hub sends
    /// it that way, so an event published under it is byte for byte one published by
    /// `Hub::publish`, and an `EventName` is never needed to reach `onmessage`.
    pub const MESSAGE: Self = Self(Cow::Borrowed("message"));

    /// Checks `name`: any text but an empty one, one with a line break (CR or LF, which
    /// would end the `event:` line and start another field), and the names of the hub's own
    /// events ([`CLOSE_EVENT`], [`GAP_EVENT`], [`PING_EVENT`]), which a page must be able to
    /// trust. Names are case-sensitive, as `addEventListener` is: `Close` is another name.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self, InvalidEventName> {
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidEventName::Empty);
        }
        if name.contains(['\r', '\n']) {
            return Err(InvalidEventName::LineBreak);
        }
        if let Some(reserved) =
            [CLOSE_EVENT, GAP_EVENT, PING_EVENT].into_iter().find(|r| *r == name)
        {
            return Err(InvalidEventName::Reserved(reserved));
        }
        Ok(Self(name))
    }

    /// The name, as a page passes it to `addEventListener`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is [`EventName::MESSAGE`], sent without an `event:` line.
    #[cfg(feature = "runtime")]
    pub(crate) fn is_message(&self) -> bool {
        *self == Self::MESSAGE
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not an [`EventName`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidEventName {
    /// The name is empty: a browser would take `event:` with nothing for `message`.
    Empty,
    /// The name contains CR or LF, which would end its line and break the stream.
    LineBreak,
    /// The name is one of the hub's own events: `close`, `gap` or `ping`.
    Reserved(&'static str),
}

impl fmt::Display for InvalidEventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("an event name cannot be empty"),
            Self::LineBreak => {
                f.write_str("an event name cannot contain a line break (CR or LF): it would end the `event:` line")
            }
            Self::Reserved(name) => write!(
                f,
                "`{name}` is the name of an event the hub sends itself (close, gap, ping): choose another"
            ),
        }
    }
}

impl std::error::Error for InvalidEventName {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_would_break_the_stream_or_pass_for_the_hubs_own_events() {
        for (bad, error) in [
            ("", InvalidEventName::Empty),
            ("a\nb", InvalidEventName::LineBreak),
            ("a\rb", InvalidEventName::LineBreak),
            ("price\r\n", InvalidEventName::LineBreak),
            ("\n", InvalidEventName::LineBreak),
            ("close", InvalidEventName::Reserved("close")),
            ("gap", InvalidEventName::Reserved("gap")),
            ("ping", InvalidEventName::Reserved("ping")),
        ] {
            assert_eq!(EventName::new(bad), Err(error), "{bad:?}");
        }
        let texts = [InvalidEventName::Empty, InvalidEventName::LineBreak]
            .map(|error| error.to_string())
            .into_iter()
            .chain([EventName::new(String::from("gap")).unwrap_err().to_string()]);
        assert_eq!(
            texts.collect::<Vec<_>>(),
            [
                "an event name cannot be empty",
                "an event name cannot contain a line break (CR or LF): it would end the `event:` line",
                "`gap` is the name of an event the hub sends itself (close, gap, ping): choose another",
            ]
        );
    }

    #[test]
    fn accepts_any_other_text_as_it_is() {
        for good in ["price", "Close", "gap ", " ping", "a:b", "李", "message"] {
            assert_eq!(EventName::new(good).map(|name| name.to_string()), Ok(good.to_owned()));
        }
    }
}
