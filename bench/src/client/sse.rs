//! An incremental Server-Sent Events parser: bytes go in as they arrive, split anywhere,
//! and events come out at each blank line, as the HTML standard's event-stream rules say.
//!
//! Lines end in LF or CRLF; a lone CR (allowed by the standard, sent by neither server
//! measured here) is not treated as a line end.

/// What a dispatched line or event was.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// An event: a blank line after at least one `data:` field.
    Event(Event<'a>),
    /// A comment line (`:` first), such as axum's keep-alive.
    Comment,
}

/// One event, borrowed from the parser until the next call to [`Parser::feed`].
#[derive(Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// The last event id seen on the stream (ids persist across events), empty if none.
    pub id: &'a str,
    /// The `event:` name, `message` when none was given.
    pub name: &'a str,
    /// The `data:` lines joined with `\n`.
    pub data: &'a [u8],
    /// The `retry:` value in this event, if it had a valid one.
    pub retry: Option<u64>,
    /// Bytes of the stream this event took, line ends and the blank line included.
    pub bytes: usize,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct Parser {
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    fields: Fields,
}

/// The fields of the event being read.
#[derive(Debug, Default)]
struct Fields {
    last_id: String,
    name: String,
    data: Vec<u8>,
    has_data: bool,
    retry: Option<u64>,
    bytes: usize,
}

impl Parser {
    /// Reads `chunk`, calling `on_item` for each event and comment it completes.
    pub fn feed(&mut self, chunk: &[u8], mut on_item: impl FnMut(Item<'_>)) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            let (line, after) = (&rest[..end], &rest[end + 1..]);
            if self.partial.is_empty() {
                self.fields.line(line, &mut on_item);
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                self.fields.line(&whole, &mut on_item);
                // Keeps the allocation for the next split line.
                self.partial = whole;
                self.partial.clear();
            }
            rest = after;
        }
        self.partial.extend_from_slice(rest);
    }
}

impl Fields {
    /// One line, without its LF.
    fn line(&mut self, line: &[u8], on_item: &mut impl FnMut(Item<'_>)) {
        self.bytes += line.len() + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch(on_item);
            return;
        }
        if line[0] == b':' {
            on_item(Item::Comment);
            return;
        }
        let (field, value) = match line.iter().position(|&byte| byte == b':') {
            Some(colon) => (&line[..colon], &line[colon + 1..]),
            None => (line, &b""[..]),
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        self.field(field, value);
    }

    fn field(&mut self, field: &[u8], value: &[u8]) {
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.name = String::from_utf8_lossy(value).into_owned(),
            // The standard ignores ids holding NUL.
            b"id" if !value.contains(&0) => {
                self.last_id = String::from_utf8_lossy(value).into_owned();
            }
            b"retry" => self.retry = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()),
            _ => {}
        }
    }

    /// The blank line: hands out the event if it had data, then starts afresh.
    fn dispatch(&mut self, on_item: &mut impl FnMut(Item<'_>)) {
        if self.has_data {
            let name = if self.name.is_empty() { "message" } else { &self.name };
            on_item(Item::Event(Event {
                id: &self.last_id,
                name,
                data: &self.data,
                retry: self.retry,
                bytes: self.bytes,
            }));
        }
        self.name.clear();
        self.data.clear();
        self.has_data = false;
        self.retry = None;
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An owned copy of what the parser handed out, to compare runs.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Event { id: String, name: String, data: String, retry: Option<u64>, bytes: usize },
        Comment,
    }

    fn parse_in_chunks(text: &[u8], cuts: &[usize]) -> Vec<Seen> {
        let mut parser = Parser::default();
        let mut seen = Vec::new();
        let mut record = |item: Item<'_>| {
            seen.push(match item {
                Item::Event(e) => Seen::Event {
                    id: e.id.to_owned(),
                    name: e.name.to_owned(),
                    data: String::from_utf8(e.data.to_vec()).unwrap(),
                    retry: e.retry,
                    bytes: e.bytes,
                },
                Item::Comment => Seen::Comment,
            })
        };
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|&cut| cut % (text.len() + 1)).collect();
        cuts.sort_unstable();
        for cut in cuts.into_iter().chain([text.len()]) {
            parser.feed(&text[start..cut], &mut record);
            start = cut;
        }
        seen
    }

    fn event(id: &str, name: &str, data: &str, retry: Option<u64>, bytes: usize) -> Seen {
        let (id, name, data) = (id.to_owned(), name.to_owned(), data.to_owned());
        Seen::Event { id, name, data, retry, bytes }
    }

    #[test]
    fn reads_the_livenames_and_axum_frames() {
        let text = "retry: 9127\nid: 17-1\ndata: {\"index\":1}\n\n:\n\nevent: ping\ndata: 17-1\n\n";
        assert_eq!(
            parse_in_chunks(text.as_bytes(), &[]),
            [
                event("17-1", "message", "{\"index\":1}", Some(9127), 40),
                Seen::Comment,
                event("17-1", "ping", "17-1", None, 24),
            ]
        );
    }

    #[test]
    fn joins_data_lines_reads_crlf_and_skips_events_without_data() {
        let text = "data: a\r\ndata:b\r\n\r\nevent: empty\n\nid\ndata\n\n";
        assert_eq!(
            parse_in_chunks(text.as_bytes(), &[]),
            [event("", "message", "a\nb", None, 19), event("", "message", "", None, 9)]
        );
    }

    /// A stream of events, comments and stray fields, as text.
    fn stream_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            "[a-z0-9{}\":, ]{0,12}".prop_map(|v| format!("data: {v}")),
            "[0-9-]{1,8}".prop_map(|v| format!("id: {v}")),
            "[a-z]{1,6}".prop_map(|v| format!("event: {v}")),
            (0u64..100_000).prop_map(|v| format!("retry: {v}")),
            "[ -~]{0,8}".prop_map(|v| format!(":{v}")),
            Just(String::new()),
        ];
        (prop::collection::vec(line, 0..30), any::<bool>()).prop_map(|(lines, crlf)| {
            let end = if crlf { "\r\n" } else { "\n" };
            lines.iter().map(|line| format!("{line}{end}")).collect()
        })
    }

    proptest! {
        #[test]
        fn chunk_boundaries_anywhere_change_nothing(
            text in stream_text(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let whole = parse_in_chunks(text.as_bytes(), &[]);
            prop_assert_eq!(parse_in_chunks(text.as_bytes(), &cuts), whole);
        }

        #[test]
        fn every_byte_of_dispatched_events_is_counted(text in stream_text()) {
            // Each event counts the bytes since the previous blank line, so they add up to at
            // most the whole stream, and to exactly it when the stream ends in one event.
            let total: usize = parse_in_chunks(text.as_bytes(), &[])
                .iter()
                .map(|seen| match seen { Seen::Event { bytes, .. } => *bytes, Seen::Comment => 0 })
                .sum();
            prop_assert!(total <= text.len());
        }
    }
}
