//! Reading a request head: which requests the connection layer answers itself (a clean
//! HTTP/1.1 request with no body) and which it leaves to hyper for the rest of the
//! connection, so that every framing question (bodies, HTTP/1.0, `Connection: close`,
//! upgrades, malformed or oversized heads) is settled by hyper's own code.

use axum::body::Body;
use axum::http::header::GetAll;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use axum::http::{HeaderMap, HeaderValue, Request, Version};

/// hyper's default limit on a request's headers (`http1::Builder::max_headers`).
pub const MAX_HEADERS: usize = 100;
/// The longest head read here; a longer one goes to hyper, which has its own, larger limit.
pub const MAX_HEAD: usize = 64 * 1024;

/// What a whole request head at the start of a connection's buffer is.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per request, moved once")]
pub enum Head {
    /// A whole request with no body, whose connection stays usable after the answer: the
    /// request, and the length of its head in the buffer.
    Clean(Request<Body>, usize),
    /// Anything else: hyper serves the connection from here on.
    ForHyper,
}

/// Reads the head at the start of `buf`; `None` while it is not whole yet: read more.
pub fn read(buf: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head = match parsed.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return None,
        Ok(httparse::Status::Complete(len)) => match request(&parsed) {
            Some(request) if is_clean(&request) => Head::Clean(request, len),
            _ => Head::ForHyper,
        },
        // Too long, too many headers, or malformed: hyper says what is wrong.
        Ok(httparse::Status::Partial) | Err(_) => Head::ForHyper,
    };
    Some(head)
}

/// The request `parsed` describes, if `http` accepts it as hyper would.
fn request(parsed: &httparse::Request<'_, '_>) -> Option<Request<Body>> {
    let version = match parsed.version? {
        1 => Version::HTTP_11,
        _ => return None,
    };
    let mut request = Request::builder().method(parsed.method?).uri(parsed.path?).version(version);
    for header in parsed.headers.iter() {
        request = request.header(header.name, header.value);
    }
    request.body(Body::empty()).ok()
}

/// Whether the request has no body and asks for nothing but keep-alive of its connection:
/// then the answer is all there is to it, and the connection is ready for the next request.
fn is_clean(request: &Request<Body>) -> bool {
    let headers = request.headers();
    let framed = [CONTENT_LENGTH, TRANSFER_ENCODING, EXPECT, UPGRADE];
    !framed.iter().any(|name| headers.contains_key(name)) && only_keep_alive(headers)
}

/// Whether every `Connection` token is `keep-alive` (the default of HTTP/1.1): `close`,
/// `upgrade` and anything else are hyper's to handle.
fn only_keep_alive(headers: &HeaderMap) -> bool {
    headers.get_all(CONNECTION).iter().all(|value| {
        tokens(value).is_some_and(|mut tokens| {
            tokens.all(|token| token.is_empty() || token.eq_ignore_ascii_case("keep-alive"))
        })
    })
}

/// Whether `Connection` headers (a request's or a response's) say `close`.
pub fn says_close(values: GetAll<'_, HeaderValue>) -> bool {
    values.iter().filter_map(tokens).flatten().any(|token| token.eq_ignore_ascii_case("close"))
}

/// The comma-separated tokens of a header value, trimmed; `None` if it is not text.
fn tokens(value: &HeaderValue) -> Option<impl Iterator<Item = &str>> {
    Some(value.to_str().ok()?.split(',').map(str::trim))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(head: &str) -> bool {
        matches!(read(head.as_bytes()), Some(Head::Clean(..)))
    }

    fn for_hyper(head: &str) -> bool {
        matches!(read(head.as_bytes()), Some(Head::ForHyper))
    }

    #[test]
    fn a_head_is_partial_until_its_blank_line() {
        assert!(read(b"GET /sse HTTP/1.1\r\nHost: x\r\n").is_none());
        assert!(read(b"").is_none());
        let head = b"GET /sse?a=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        let Some(Head::Clean(request, len)) = read(&[&head[..], b"GET /"].concat()) else {
            panic!("a whole head");
        };
        assert_eq!(len, head.len(), "the next request's bytes are not part of it");
        assert_eq!(request.uri(), "/sse?a=1");
        assert_eq!(request.headers()["host"], "x");
    }

    #[test]
    fn browsers_and_proxies_requests_are_clean() {
        assert!(clean("GET /sse HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"));
        assert!(clean("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        // nginx's upstream keep-alive clears the header.
        assert!(clean("GET /sse HTTP/1.1\r\nHost: x\r\nConnection: \r\n\r\n"));
        assert!(clean("\r\nGET /sse HTTP/1.1\r\nHost: x\r\n\r\n"), "a leading blank line");
    }

    #[test]
    fn bodies_old_versions_and_connection_changes_go_to_hyper() {
        for head in [
            "GET /sse HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "GET /sse HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET /sse HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /sse HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /sse HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET /sse HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET /sse HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n",
            "GET /sse HTTP/1.0\r\n\r\n",
            "GET /sse HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            "GET /sse HTTP/1.1\r\nbad header\r\n\r\n",
            "GET  /sse HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert!(for_hyper(head), "{head:?}");
        }
    }

    #[test]
    fn heads_over_the_limits_go_to_hyper() {
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: {i}\r\n")).collect();
        assert!(for_hyper(&format!("GET / HTTP/1.1\r\n{many}\r\n")));
        let long = format!("GET / HTTP/1.1\r\nx: {}\r\n", "a".repeat(MAX_HEAD));
        assert!(for_hyper(&long), "a partial head over the limit");
    }
}
