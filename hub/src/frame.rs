//! The bytes of SSE frames, built once and shared as [`Bytes`].

use crate::{EventId, EventName};
use bytes::Bytes;
use std::time::Duration;

/// `id:`, `event:` and `data:` of one event: the part every subscriber shares. A `message`
/// goes without `event:`, the browser's default.
pub(crate) fn event(id: EventId, name: &EventName, data: &str) -> Bytes {
    let name = if name.is_message() { String::new() } else { event_line(name.as_str()) };
    Bytes::from(format!("id: {id}\n{name}{}\n", data_lines(data)))
}

/// One of the hub's own events (`close`, `gap`, `ping`), without an id. EventSource hands
/// named events only to listeners of that name, so plain `onmessage` code never sees them.
pub(crate) fn named(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("{}{}\n", event_line(name), data_lines(data)))
}

/// The `event:` line; the name holds no line break ([`EventName::new`]).
fn event_line(name: &str) -> String {
    format!("event: {name}\n")
}

/// `retry:` as a field of the event that follows it.
pub(crate) fn retry(retry: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n", retry.as_millis()))
}

/// One `data:` line per line of `data`, whatever ends its lines (`\r\n`, `\n` or a lone
/// `\r`, as the SSE spec reads them), so a line break can never end the frame early or start
/// another field; an empty `data` still gets one line, because EventSource drops events
/// without data.
fn data_lines(data: &str) -> String {
    let mut lines = String::with_capacity(data.len() + 8);
    for line in data.replace("\r\n", "\n").split(['\n', '\r']) {
        lines.push_str("data: ");
        lines.push_str(line);
        lines.push('\n');
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_are_well_formed_sse() {
        let id = EventId { epoch: 7, index: 3 };
        assert_eq!(event(id, &EventName::MESSAGE, r#"{"a":1}"#), "id: 7-3\ndata: {\"a\":1}\n\n");
        let price = EventName::new("price").unwrap();
        assert_eq!(event(id, &price, "9.5"), "id: 7-3\nevent: price\ndata: 9.5\n\n");
        let message = EventName::new("message").unwrap();
        assert_eq!(event(id, &message, "x"), "id: 7-3\ndata: x\n\n", "the default: no line");
        assert_eq!(named("close", "bye"), "event: close\ndata: bye\n\n");
        assert_eq!(named("gap", "two\nlines"), "event: gap\ndata: two\ndata: lines\n\n");
        let endings = "a\r\nb\rc\nd";
        assert_eq!(named("x", endings), "event: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(retry(Duration::from_millis(8500)), "retry: 8500\n");
    }

    /// What a browser's EventSource dispatches for `frames`: (type, data, lastEventId) per
    /// event, read by `eventsource-stream`, a parser written from the SSE spec.
    fn as_a_browser_reads(
        frames: impl IntoIterator<Item = Bytes>,
    ) -> Vec<(String, String, String)> {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let body = futures::stream::iter(frames.into_iter().map(Ok::<_, std::convert::Infallible>));
        let events = futures::executor::block_on(body.eventsource().collect::<Vec<_>>());
        let event = |event: eventsource_stream::Event| (event.event, event.data, event.id);
        events.into_iter().map(|read| event(read.expect("a well-formed stream"))).collect()
    }

    proptest! {
        #[test]
        fn every_accepted_name_reaches_a_browser_as_it_was_given(
            name in prop_oneof![any::<String>(), "[a-z :\r\n]{0,6}", Just("message".into())],
            data in any::<String>(),
            index in 1..u64::MAX,
        ) {
            let Ok(name) = EventName::new(name) else { return Ok(()) };
            let (named_id, next_id) = (EventId { epoch: 1, index }, EventId { epoch: 1, index: index + 1 });
            let frames = [event(named_id, &name, &data), event(next_id, &EventName::MESSAGE, "next")];
            // The browser joins `data:` lines with `\n`, whatever ended them in the payload.
            let lines = data.replace("\r\n", "\n").replace('\r', "\n");
            prop_assert_eq!(
                as_a_browser_reads(frames),
                [
                    (name.to_string(), lines, named_id.to_string()),
                    ("message".into(), "next".into(), next_id.to_string()),
                ]
            );
        }
    }
}
