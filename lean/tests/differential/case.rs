//! A case: the raw bytes a client sends, how it sends them (pieces, pauses, events the hub
//! publishes in between) and how it leaves.

use std::fmt;
use std::time::Duration;

/// The pause between the pieces of a split request: long enough that each piece arrives in
/// a read of its own (hyper answers a body that came with its head differently from one
/// still to come), even on a busy machine.
const PIECE_PAUSE: Duration = Duration::from_millis(25);
/// The pause between the bytes of a request sent byte by byte.
const BYTE_PAUSE: Duration = Duration::from_millis(2);
/// A pause before a step that must come once the server has acted on what came before:
/// hyper reads a request body that is not there yet differently from one already sent.
pub const SETTLE: Duration = Duration::from_millis(150);

/// One thing the client does, in order.
#[derive(Clone, Debug)]
pub enum Step {
    Send(Vec<u8>),
    Pause(Duration),
    /// The server's hub publishes one event (streams waiting for a live event get it).
    Publish,
    /// The client shuts its writing side (a FIN) and sends nothing more.
    HalfClose,
}

/// How the client leaves once its steps are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Reads until the server closes or stays quiet, keeping its side open.
    Read,
    /// Shuts its writing side (a FIN) once the server has acted on what it sent, then reads
    /// the same way. Not at once: hyper drops a request whose connection reads EOF before
    /// the response is written (`half_close` is off by default), so a FIN right behind a
    /// request races hyper's own reads and no two runs need agree.
    HalfClose,
    /// Closes with `SO_LINGER` 0 (a reset) without reading.
    Reset,
}

/// A named request sequence, replayed on both servers.
#[derive(Clone)]
pub struct Case {
    pub name: String,
    pub steps: Vec<Step>,
    pub ending: Ending,
}

impl Case {
    /// `bytes` in one write, then read.
    pub fn new(name: impl Into<String>, bytes: impl AsRef<[u8]>) -> Self {
        Self::pieces(name, [bytes])
    }

    /// Each piece in a write of its own, with a short pause between them.
    pub fn pieces<P: AsRef<[u8]>>(
        name: impl Into<String>,
        pieces: impl IntoIterator<Item = P>,
    ) -> Self {
        Self::paced(name, pieces, PIECE_PAUSE)
    }

    /// `bytes` one byte per write.
    pub fn bytewise(name: impl Into<String>, bytes: impl AsRef<[u8]>) -> Self {
        Self::paced(name, bytes.as_ref().chunks(1), BYTE_PAUSE)
    }

    fn paced<P: AsRef<[u8]>>(
        name: impl Into<String>,
        pieces: impl IntoIterator<Item = P>,
        pause: Duration,
    ) -> Self {
        let mut steps = Vec::new();
        for piece in pieces {
            if !steps.is_empty() {
                steps.push(Step::Pause(pause));
            }
            steps.push(Step::Send(piece.as_ref().to_vec()));
        }
        Self { name: name.into(), steps, ending: Ending::Read }
    }

    /// The same, then, once the server has acted on what came before, `bytes`.
    pub fn later(self, bytes: impl AsRef<[u8]>) -> Self {
        self.after_settling(Step::Send(bytes.as_ref().to_vec()))
    }

    /// The same, then, once the server has acted on what came before, one published event.
    pub fn then_publish(self) -> Self {
        self.after_settling(Step::Publish)
    }

    /// The same, then, once the server has acted on what came before, a half-close.
    pub fn then_half_close(self) -> Self {
        self.after_settling(Step::HalfClose)
    }

    fn after_settling(mut self, step: Step) -> Self {
        self.steps.extend([Step::Pause(SETTLE), step]);
        self
    }

    /// The same, leaving as `ending` says.
    pub fn ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }

    /// Whether it publishes: it changes its servers' hubs, so it needs servers of its own.
    pub fn publishes(&self) -> bool {
        self.steps.iter().any(|step| matches!(step, Step::Publish))
    }

    /// Every byte it sends, in order.
    pub fn sent(&self) -> Vec<u8> {
        let sends = self.steps.iter().filter_map(|step| match step {
            Step::Send(bytes) => Some(bytes.as_slice()),
            _ => None,
        });
        sends.flatten().copied().collect()
    }

    /// For each request line in what it sends, in order, whether it is a `HEAD` (whose
    /// response has no body whatever its framing headers say). A request line is a line
    /// `TOKEN SP TARGET SP HTTP/…`; one inside a body counts too, which matters only if a
    /// `HEAD` follows it, and no case does that.
    pub fn heads(&self) -> Vec<bool> {
        let sent = self.sent();
        let lines = sent.split(|&byte| byte == b'\n');
        lines.filter(|line| is_request_line(line)).map(|line| line.starts_with(b"HEAD ")).collect()
    }
}

fn is_request_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let parts: Vec<&[u8]> = line.split(|&byte| byte == b' ').collect();
    matches!(parts.as_slice(), [method, target, version]
        if !method.is_empty()
            && method.iter().all(u8::is_ascii_alphabetic)
            && !target.is_empty()
            && version.starts_with(b"HTTP/"))
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "case {} (ending {:?}):", self.name, self.ending)?;
        for step in &self.steps {
            match step {
                Step::Send(bytes) => writeln!(f, "  send {}", Shown(bytes))?,
                Step::Pause(pause) => writeln!(f, "  pause {pause:?}")?,
                Step::Publish => writeln!(f, "  publish an event")?,
                Step::HalfClose => writeln!(f, "  half-close")?,
            }
        }
        Ok(())
    }
}

/// As its steps, readable: proptest shows a failing case this way.
impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Bytes as readable text: escaped, and cut in the middle when long.
pub struct Shown<'a>(pub &'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const EDGE: usize = 160;
        let bytes = self.0;
        if bytes.len() <= 2 * EDGE {
            return write!(f, "\"{}\"", bytes.escape_ascii());
        }
        let (start, end) = (&bytes[..EDGE], &bytes[bytes.len() - EDGE..]);
        let cut = bytes.len() - 2 * EDGE;
        write!(f, "\"{}\" …{cut} bytes… \"{}\"", start.escape_ascii(), end.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_found_in_order_across_pieces() {
        let case = Case::pieces(
            "heads",
            ["GET /text HTTP/1.1\r\nHost: x\r\n\r\nHE", "AD /text HTTP/1.0\r\n\r\nnot a request"],
        );
        assert_eq!(case.heads(), [false, true]);
    }
}
