//! What the stream's URL answers, read from a response's status and `Content-Type`: the
//! page's probe after its `EventSource` gave up, which does not say why.

use serde::{Deserialize, Serialize};

/// Why the page is trying again by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// The server, or a proxy in front of it, answered with this status (`502` while an
    /// instance restarts, `503` when it is full).
    Status(u16),
    /// A `200` that is not an event stream: an HTML error page, a captive portal.
    NotAStream,
    /// No answer at all: the server or the network is down.
    Unreachable,
}

/// What the stream's URL answers now, as a probe found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `200 text/event-stream`: reopen now.
    Stream,
    /// `204 No Content`: the stream is over, for good.
    Ended,
    /// Anything else: wait and try again.
    Failed(Failure),
}

impl Probe {
    /// What a response with this status and `Content-Type` means for the stream.
    pub fn of_response(status: u16, content_type: Option<&str>) -> Self {
        let is_stream = content_type.is_some_and(|value| {
            value.split(';').next().is_some_and(|mime| mime.trim() == "text/event-stream")
        });
        match status {
            204 => Self::Ended,
            200 if is_stream => Self::Stream,
            200 => Self::Failed(Failure::NotAStream),
            status => Self::Failed(Failure::Status(status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_read_status_and_content_type() {
        assert_eq!(Probe::of_response(200, Some("text/event-stream")), Probe::Stream);
        assert_eq!(
            Probe::of_response(200, Some("text/event-stream; charset=utf-8")),
            Probe::Stream
        );
        assert_eq!(Probe::of_response(200, Some("text/html")), Probe::Failed(Failure::NotAStream));
        assert_eq!(Probe::of_response(200, None), Probe::Failed(Failure::NotAStream));
        assert_eq!(Probe::of_response(204, None), Probe::Ended);
        assert_eq!(Probe::of_response(502, Some("text/html")), Probe::Failed(Failure::Status(502)));
    }
}
