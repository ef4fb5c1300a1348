//! Generated cases: one to three requests from a small grammar of methods, paths, versions,
//! framing and `Connection` headers with odd values, and bodies that may or may not match
//! them, sent in pieces cut at random places.

use crate::case::{Case, Ending};
use proptest::prelude::*;
use proptest::sample::{Index, select};

// A value listed twice is drawn twice as often: mostly what clients send, sometimes not.
const METHODS: [&str; 10] =
    ["GET", "GET", "GET", "GET", "GET", "GET", "HEAD", "POST", "POST", "get"];
const PATHS: [&str; 8] =
    ["/sse", "/sse?limit=1", "/sse?limit=1", "/text", "/echo", "/empty", "/close", "/nope"];
const VERSIONS: [&str; 8] = [
    "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.0", "HTTP/1.2",
];
const LENGTHS: [&str; 7] = ["0", "5", "3", "10", "abc", "5, 5", "99999999999999999999"];
const ENCODINGS: [&str; 4] = ["chunked", "gzip, chunked", "chunked, gzip", "identity"];
const CONNECTIONS: [&str; 8] = [
    "keep-alive",
    "keep-alive",
    "keep-alive",
    "close",
    "Close",
    "upgrade",
    "keep-alive, close",
    "TE",
];
/// Bodies for odd framings: raw, chunked, chunked with a trailer, a bad chunk size.
const ODD_BODIES: [&str; 5] =
    ["", "hello", "5\r\nhello\r\n0\r\n\r\n", "0\r\nX-T: 1\r\n\r\n", "zz\r\nhello\r\n"];

/// The framing headers of a request and its body: none, a body that matches its
/// `Content-Length` or chunks, or framing headers with odd values and any body.
fn framing() -> impl Strategy<Value = (Vec<String>, String)> {
    let odd_header = prop_oneof![
        select(LENGTHS.as_slice()).prop_map(|value| format!("Content-Length: {value}")),
        select(ENCODINGS.as_slice()).prop_map(|value| format!("Transfer-Encoding: {value}")),
    ];
    let odd = (proptest::collection::vec(odd_header, 1..=2), select(ODD_BODIES.as_slice()));
    prop_oneof![
        4 => Just((Vec::new(), String::new())),
        2 => Just((vec!["Content-Length: 5".to_owned()], "hello".to_owned())),
        2 => select(["", "X-Trailer: 1\r\n"].as_slice()).prop_map(|trailer| {
            let body = format!("5\r\nhello\r\n0\r\n{trailer}\r\n");
            (vec!["Transfer-Encoding: chunked".to_owned()], body)
        }),
        1 => odd.prop_map(|(headers, body)| (headers, body.to_owned())),
    ]
}

/// A header of the grammar that is not framing.
fn other_header() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(CONNECTIONS.as_slice()).prop_map(|value| format!("Connection: {value}")),
        1 => Just("Upgrade: websocket".to_owned()),
        1 => Just("Expect: 100-continue".to_owned()),
        1 => Just("TE: trailers".to_owned()),
    ]
}

/// One request: its line, a `Host` most of the time, its framing, up to two more headers.
fn request() -> impl Strategy<Value = String> {
    let line = (select(METHODS.as_slice()), select(PATHS.as_slice()), select(VERSIONS.as_slice()));
    let host = proptest::bool::weighted(0.8);
    let others = proptest::collection::vec(other_header(), 0..=2);
    (line, host, framing(), others).prop_map(
        |((method, path, version), host, (mut headers, body), others)| {
            let mut request = format!("{method} {path} {version}\r\n");
            if host {
                request.push_str("Host: x\r\n");
            }
            headers.extend(others);
            for header in headers {
                request.push_str(&header);
                request.push_str("\r\n");
            }
            format!("{request}\r\n{body}")
        },
    )
}

/// One to three requests, cut into up to four pieces, left open or half-closed.
pub fn case() -> impl Strategy<Value = Case> {
    let requests = proptest::collection::vec(request(), 1..=3);
    let cuts = proptest::collection::vec(any::<Index>(), 0..=3);
    let ending = prop_oneof![4 => Just(Ending::Read), 1 => Just(Ending::HalfClose)];
    (requests, cuts, ending).prop_map(|(requests, cuts, ending)| {
        let bytes = requests.concat().into_bytes();
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len())).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().filter(|&cut| cut > 0).chain([bytes.len()]) {
            pieces.push(&bytes[start..cut]);
            start = cut;
        }
        Case::pieces("generated", pieces).ending(ending)
    })
}
