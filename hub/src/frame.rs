//! The bytes of SSE frames, built once and shared as [`Bytes`].

use crate::EventId;
use bytes::Bytes;
use std::time::Duration;

/// `id:` and `data:` of one event: the part every subscriber shares.
pub(crate) fn event(id: EventId, data: &str) -> Bytes {
    Bytes::from(format!("id: {id}\n{}\n", data_lines(data)))
}

/// A named event (`close`, `gap`, `ping`). EventSource hands named events only to listeners
/// of that name, so plain `onmessage` code never sees them.
pub(crate) fn named(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\n{}\n", data_lines(data)))
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

    #[test]
    fn frames_are_well_formed_sse() {
        let id = EventId { epoch: 7, index: 3 };
        assert_eq!(event(id, r#"{"a":1}"#), "id: 7-3\ndata: {\"a\":1}\n\n");
        assert_eq!(named("close", "bye"), "event: close\ndata: bye\n\n");
        assert_eq!(named("gap", "two\nlines"), "event: gap\ndata: two\ndata: lines\n\n");
        let endings = "a\r\nb\rc\nd";
        assert_eq!(named("x", endings), "event: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(retry(Duration::from_millis(8500)), "retry: 8500\n");
    }
}
