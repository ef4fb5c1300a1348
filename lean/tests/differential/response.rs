//! What a server answered, normalized for comparison: each response's status line, framing
//! headers and body as its framing delimits it, then whatever could not be parsed, then
//! whether the connection was closed. Lenient: a malformed response is recorded, never a
//! panic. `date` and the headers a handler chose (other than `content-type`) are left out.

use crate::case::Shown;
use crate::client::{End, Received};
use std::fmt;

/// The headers that frame a response, and its type.
const KEPT_HEADERS: [&str; 4] =
    ["connection", "content-length", "content-type", "transfer-encoding"];
/// More than any response of the test router has.
const MAX_HEADERS: usize = 64;

/// Everything one connection received.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub responses: Vec<Response>,
    /// Bytes after the last response that are not a response (or a `101`'s new protocol).
    pub unparsed: Option<Bytes>,
    pub end: End,
}

/// One response.
#[derive(PartialEq, Eq)]
pub struct Response {
    /// `HTTP/1.1 200 OK`.
    pub status: String,
    /// [`KEPT_HEADERS`], names lower-cased, sorted by name (values of one name in order).
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// On one line: `HTTP/1.1 200 OK [name: value, …] Body`.
impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> =
            self.headers.iter().map(|(name, value)| format!("{name}: {value}")).collect();
        write!(f, "{} [{}] {:?}", self.status, headers.join(", "), self.body)
    }
}

/// A body as its framing delimits it.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    /// None by rule: `1xx`, `204`, `304`, or the answer to a `HEAD`.
    None,
    /// `content-length` bytes, all received.
    Sized(Bytes),
    /// Fewer bytes than `content-length` said, before the connection ended or went quiet.
    Short { expected: usize, got: Bytes },
    /// `transfer-encoding: chunked`: the data, its trailer lines, and whether the last chunk
    /// came (chunk boundaries are the writer's business and not compared).
    Chunked { data: Bytes, trailers: Vec<String>, complete: bool },
    /// Neither length nor chunks: everything until the connection ended.
    UntilClose(Bytes),
    /// Framing the parser could not follow: an unreadable length or chunk size.
    Malformed(Bytes),
}

/// Bytes compared exactly and shown as escaped text.
#[derive(PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Shown(&self.0), f)
    }
}

impl Outcome {
    /// Parses `received`; `heads` says which requests, in order, are `HEAD`s.
    pub fn parse(received: &Received, heads: &[bool]) -> Self {
        let mut responses = Vec::new();
        let mut rest = received.bytes.as_slice();
        let mut answered = 0;
        let unparsed = loop {
            if rest.is_empty() {
                break None;
            }
            let Some((head, length)) = parse_head(rest) else { break Some(rest) };
            rest = &rest[length..];
            let informational = (100..200).contains(&head.code);
            let no_body = informational
                || head.code == 204
                || head.code == 304
                || heads.get(answered).copied().unwrap_or(false);
            if !informational {
                answered += 1;
            }
            let (body, used) = if no_body { (Body::None, 0) } else { body(&head.headers, rest) };
            rest = &rest[used..];
            let stop = matches!(body, Body::Malformed(_)) || head.code == 101;
            responses.push(Response { status: head.status, headers: head.headers, body });
            if stop {
                break (!rest.is_empty()).then_some(rest);
            }
        };
        let unparsed = unparsed.map(|rest| Bytes(rest.to_vec()));
        Self { responses, unparsed, end: received.end }
    }
}

struct Head {
    code: u16,
    status: String,
    headers: Vec<(String, String)>,
}

/// A complete response head at the start of `bytes`, and its length.
fn parse_head(bytes: &[u8]) -> Option<(Head, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(length) = response.parse(bytes).ok()? else { return None };
    let code = response.code?;
    let status = format!("HTTP/1.{} {code} {}", response.version?, response.reason.unwrap_or(""));
    let mut kept: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|header| (header.name.to_ascii_lowercase(), header.value))
        .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name, String::from_utf8_lossy(value).trim().to_owned()))
        .collect();
    kept.sort_by(|(a, _), (b, _)| a.cmp(b));
    Some((Head { code, status, headers: kept }, length))
}

/// The body at the start of `bytes` as `headers` frame it, and how many bytes it took.
fn body(headers: &[(String, String)], bytes: &[u8]) -> (Body, usize) {
    let values = |name: &str| -> Vec<&str> {
        headers.iter().filter(|(n, _)| n == name).map(|(_, value)| value.as_str()).collect()
    };
    let encodings = values("transfer-encoding").join(",");
    let last_encoding = encodings.rsplit(',').next().unwrap_or("").trim();
    if last_encoding.eq_ignore_ascii_case("chunked") {
        return chunked(bytes);
    }
    match values("content-length").as_slice() {
        [] => (Body::UntilClose(Bytes(bytes.to_vec())), bytes.len()),
        [length] => match length.parse::<usize>() {
            Ok(length) if length <= bytes.len() => {
                (Body::Sized(Bytes(bytes[..length].to_vec())), length)
            }
            Ok(expected) => (Body::Short { expected, got: Bytes(bytes.to_vec()) }, bytes.len()),
            Err(_) => (Body::Malformed(Bytes(bytes.to_vec())), bytes.len()),
        },
        _ => (Body::Malformed(Bytes(bytes.to_vec())), bytes.len()),
    }
}

/// A chunked body at the start of `bytes`: complete with its last chunk and trailers, or
/// as much as came.
fn chunked(bytes: &[u8]) -> (Body, usize) {
    let mut data = Vec::new();
    let mut at = 0;
    let incomplete =
        |data: Vec<u8>| Body::Chunked { data: Bytes(data), trailers: Vec::new(), complete: false };
    loop {
        let Some(line) = line_at(bytes, at) else { return (incomplete(data), bytes.len()) };
        let size = line.split(|&byte| byte == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|size| usize::from_str_radix(size.trim(), 16).ok());
        let Some(size) = size else {
            return (Body::Malformed(Bytes(bytes[at..].to_vec())), bytes.len());
        };
        at += line.len() + 2;
        if size == 0 {
            return trailers(bytes, at, data);
        }
        if bytes.len() < at + size + 2 {
            data.extend_from_slice(&bytes[at.min(bytes.len())..bytes.len().min(at + size)]);
            return (incomplete(data), bytes.len());
        }
        data.extend_from_slice(&bytes[at..at + size]);
        if &bytes[at + size..at + size + 2] != b"\r\n" {
            return (Body::Malformed(Bytes(bytes[at + size..].to_vec())), bytes.len());
        }
        at += size + 2;
    }
}

/// The trailer lines after the last chunk, up to the empty line that ends the body.
fn trailers(bytes: &[u8], mut at: usize, data: Vec<u8>) -> (Body, usize) {
    let mut trailers = Vec::new();
    loop {
        let Some(line) = line_at(bytes, at) else {
            let body = Body::Chunked { data: Bytes(data), trailers, complete: false };
            return (body, bytes.len());
        };
        at += line.len() + 2;
        if line.is_empty() {
            return (Body::Chunked { data: Bytes(data), trailers, complete: true }, at);
        }
        trailers.push(String::from_utf8_lossy(line).into_owned());
    }
}

/// The line starting at `at`, without its CRLF, if its CRLF came.
fn line_at(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let rest = bytes.get(at..)?;
    let end = rest.windows(2).position(|pair| pair == b"\r\n")?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8], end: End, heads: &[bool]) -> Outcome {
        Outcome::parse(&Received { bytes: bytes.to_vec(), end }, heads)
    }

    #[test]
    fn a_pipeline_of_chunked_sized_and_headless_responses_is_split_by_framing() {
        let bytes = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDate: now\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n\
            HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n\
            HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
        let outcome = parsed(bytes, End::Open, &[false, true, false]);
        let bodies: Vec<&Body> = outcome.responses.iter().map(|response| &response.body).collect();
        assert_eq!(
            bodies,
            [
                &Body::None,
                &Body::Chunked {
                    data: Bytes(b"abcde".to_vec()),
                    trailers: vec!["T: 1".into()],
                    complete: true
                },
                &Body::None,
                &Body::Sized(Bytes(b"hi".to_vec())),
            ]
        );
        assert_eq!(
            outcome.responses[1].headers,
            [("transfer-encoding".to_owned(), "chunked".to_owned())]
        );
        assert_eq!(outcome.unparsed, None);
    }

    #[test]
    fn cut_and_malformed_bodies_are_recorded_not_panicked_on() {
        let cut = parsed(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
            End::Closed,
            &[],
        );
        let data = Bytes(b"ab".to_vec());
        assert_eq!(
            cut.responses[0].body,
            Body::Chunked { data, trailers: vec![], complete: false }
        );
        let bad = parsed(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            End::Closed,
            &[],
        );
        assert_eq!(bad.responses[0].body, Body::Malformed(Bytes(b"zz\r\n".to_vec())));
        let short = parsed(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nab", End::Closed, &[]);
        assert_eq!(
            short.responses[0].body,
            Body::Short { expected: 9, got: Bytes(b"ab".to_vec()) }
        );
        let garbage = parsed(b"\x00\x01 not http", End::Closed, &[]);
        assert_eq!(garbage.responses, []);
        assert_eq!(garbage.unparsed, Some(Bytes(b"\x00\x01 not http".to_vec())));
    }
}
