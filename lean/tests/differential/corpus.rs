//! The named cases, by theme. Most end with a pipelined `GET /text`, so the outcome also
//! shows what the server made of the bytes before it: answered, refused, or taken as a body.

use crate::case::{Case, Ending};
use crate::servers::REPLAYED;

/// A stream that ends after one replayed event.
const SSE1: &str = "GET /sse?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n";
/// A stream of the default limit (also replayed, so it ends).
const SSE: &str = "GET /sse HTTP/1.1\r\nHost: x\r\n\r\n";
const TEXT: &str = "GET /text HTTP/1.1\r\nHost: x\r\n\r\n";
/// A request hidden in a body: answered only by a server that takes the body for requests.
const SMUGGLED: &str = "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n";

/// `{method} {target} {version}`, a `Host`, `headers`, then `body`.
fn request(method: &str, target: &str, version: &str, headers: &[&str], body: &str) -> String {
    let mut request = format!("{method} {target} {version}\r\nHost: x\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    request
}

/// `request`, then `GET /text` in the same write.
fn then_text(name: impl Into<String>, request: &str) -> Case {
    Case::new(name, format!("{request}{TEXT}"))
}

/// `data` as one chunk and the last chunk.
fn chunked(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n0\r\n\r\n", data.len())
}

/// A stream that stays open, waiting for the one live event past what it replays.
fn waiting_stream() -> String {
    format!("GET /sse?limit={} HTTP/1.1\r\nHost: x\r\n\r\n", REPLAYED + 1)
}

/// Bodies under every framing header, on a stream, a plain `GET` and a `POST` that reads
/// its body; each followed by `GET /text`.
pub fn bodies() -> Vec<Case> {
    let hello = chunked("hello");
    let smuggled = chunked(SMUGGLED);
    let smuggled_length = format!("Content-Length: {}", SMUGGLED.len());
    let (v11, v10, chunks) = ("HTTP/1.1", "HTTP/1.0", "Transfer-Encoding: chunked");
    let framings: [(&str, &str, &[&str], &str); 18] = [
        ("content-length", v11, &["Content-Length: 5"], "hello"),
        ("content-length-smuggling", v11, &[&smuggled_length], SMUGGLED),
        ("content-length-zero", v11, &["Content-Length: 0"], ""),
        ("content-length-invalid", v11, &["Content-Length: abc"], "hello"),
        ("content-length-negative", v11, &["Content-Length: -5"], "hello"),
        ("content-length-plus", v11, &["Content-Length: +5"], "hello"),
        ("content-length-huge", v11, &["Content-Length: 99999999999999999999999"], "hello"),
        ("content-length-twice-equal", v11, &["Content-Length: 5", "Content-Length: 5"], "hello"),
        ("content-length-list-equal", v11, &["Content-Length: 5, 5"], "hello"),
        (
            "content-length-twice-differing",
            v11,
            &["Content-Length: 5", "Content-Length: 6"],
            "hello!",
        ),
        ("chunked", v11, &[chunks], &hello),
        ("chunked-smuggling", v11, &[chunks], &smuggled),
        ("chunked-trailers", v11, &[chunks], "5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"),
        ("chunked-bad-size", v11, &[chunks], "zz\r\nhello\r\n0\r\n\r\n"),
        ("chunked-not-last", v11, &["Transfer-Encoding: chunked, gzip"], &hello),
        ("content-length-and-chunked", v11, &["Content-Length: 3", chunks], &hello),
        ("chunked-http10", v10, &[chunks, "Connection: keep-alive"], &hello),
        ("content-length-http10", v10, &["Content-Length: 5", "Connection: keep-alive"], "hello"),
    ];
    let targets =
        [("sse", "GET", "/sse?limit=1"), ("text", "GET", "/text"), ("echo", "POST", "/echo")];
    let mut cases = Vec::new();
    for (target_name, method, target) in targets {
        for (framing, version, headers, body) in &framings {
            let request = request(method, target, version, headers, body);
            cases.push(then_text(format!("body/{framing}/{target_name}"), &request));
        }
        let head = request(method, target, v11, &[chunks], "");
        let pieces = Case::new(format!("body/chunked-later/{target_name}"), head);
        cases.push(pieces.later("5\r\nhel").later(format!("lo\r\n0\r\n\r\n{TEXT}")));
        let head = request(method, target, v11, &["Content-Length: 5"], "");
        let later = Case::new(format!("body/content-length-later/{target_name}"), head);
        cases.push(later.later(format!("hello{TEXT}")));
    }
    cases
}

/// Requests pipelined behind streams, in one write or while the stream runs.
pub fn pipelines() -> Vec<Case> {
    let echo = request("POST", "/echo", "HTTP/1.1", &["Content-Length: 5"], "hello");
    let close = "GET /close HTTP/1.1\r\nHost: x\r\n\r\n";
    let waiting = waiting_stream();
    vec![
        Case::new("pipeline/sse-text", format!("{SSE1}{TEXT}")),
        Case::new("pipeline/text-sse-text", format!("{TEXT}{SSE1}{TEXT}")),
        Case::new("pipeline/text-sse", format!("{TEXT}{SSE}")),
        Case::new("pipeline/sse-sse-sse", format!("{SSE1}{SSE}{SSE1}")),
        Case::new("pipeline/sse-echo", format!("{SSE1}{echo}")),
        Case::new("pipeline/sse-empty-text", format!("{SSE1}GET /empty HTTP/1.1\r\n\r\n{TEXT}")),
        Case::new("pipeline/sse-close-text", format!("{SSE1}{close}{TEXT}")),
        Case::new("pipeline/sse-http10-text", format!("{SSE1}GET /text HTTP/1.0\r\n\r\n{TEXT}")),
        Case::new("pipeline/sse-garbage", format!("{SSE1}NOT A REQUEST\r\n\r\n")),
        Case::new("pipeline/sse-partial", format!("{SSE1}GET /te")),
        Case::new("pipeline/sse-partial-half-close", format!("{SSE1}GET /te"))
            .ending(Ending::HalfClose),
        Case::pieces("pipeline/sse-then-text-later", [SSE1, TEXT]),
        Case::pieces(
            "pipeline/split-in-second-head",
            [format!("{SSE1}GET /te"), format!("xt HTTP/1.1\r\n\r\n{SSE1}")],
        ),
        Case::new("pipeline/waiting-stream-text", format!("{waiting}{TEXT}")),
        Case::new("pipeline/waiting-stream-half-close", waiting.clone()).ending(Ending::HalfClose),
        Case::new("pipeline/waiting-stream-reset", waiting.clone()).ending(Ending::Reset),
    ]
}

/// Requests sent while a stream waits for a live event, which the hub then publishes: the
/// later requests are answered once the stream has ended.
pub fn running_streams() -> Vec<Case> {
    let waiting = waiting_stream();
    let meanwhile = |name: &str, next: String| Case::new(name, &waiting).later(next).then_publish();
    vec![
        Case::new("running/ends-on-a-live-event", &waiting).then_publish(),
        meanwhile("running/text-meanwhile", TEXT.into()),
        meanwhile("running/sse-and-text-meanwhile", format!("{SSE1}{TEXT}")),
        meanwhile("running/close-meanwhile", format!("GET /close HTTP/1.1\r\n\r\n{TEXT}")),
        meanwhile(
            "running/body-meanwhile",
            request("POST", "/echo", "HTTP/1.1", &["Content-Length: 5"], "hello"),
        ),
        meanwhile("running/garbage-meanwhile", "BAD\r\n\r\n".into()),
        // The second replays the live event too, so it ends with it.
        meanwhile("running/waiting-stream-meanwhile", waiting.clone()),
        Case::new("running/half-closed-meanwhile", &waiting)
            .then_publish()
            .ending(Ending::HalfClose),
        // A FIN behind a pipelined request does not cut the stream (issue 18, 4).
        Case::new("running/half-close-behind-a-request", format!("{waiting}{TEXT}"))
            .then_half_close()
            .then_publish(),
        Case::new("running/half-close-behind-a-partial-request", format!("{waiting}GET /te"))
            .then_half_close()
            .then_publish(),
        Case::new("running/half-close-behind-a-request-sent-meanwhile", &waiting)
            .later(TEXT)
            .then_half_close()
            .then_publish(),
    ]
}

/// HTTP/1.0 and 1.1 with each `Connection` token.
pub fn versions_and_connection() -> Vec<Case> {
    let http10 = |target: &str, headers: &[&str]| request("GET", target, "HTTP/1.0", headers, "");
    let http11 = |target: &str, headers: &[&str]| request("GET", target, "HTTP/1.1", headers, "");
    let keep_alive = ["Connection: keep-alive"];
    let close = ["Connection: close"];
    let unended = format!("/sse?limit={}", REPLAYED + 1);
    let text_then_sse = http10("/text", &keep_alive) + &http10("/sse", &keep_alive);
    vec![
        then_text("http10/text", &http10("/text", &[])),
        then_text("http10/text-keep-alive", &http10("/text", &keep_alive)),
        then_text("http10/sse", &http10("/sse", &[])),
        then_text("http10/sse-keep-alive", &http10("/sse", &keep_alive)),
        Case::new("http10/sse-unended-keep-alive", http10(&unended, &keep_alive)),
        Case::new("http10/keep-alive-text-sse", text_then_sse),
        then_text("http10/empty-keep-alive", &http10("/empty", &keep_alive)),
        then_text(
            "http10/head-sse-keep-alive",
            &request("HEAD", "/sse", "HTTP/1.0", &keep_alive, ""),
        ),
        then_text("http10/close-route-keep-alive", &http10("/close", &keep_alive)),
        Case::new("http10/no-host", "GET /sse HTTP/1.0\r\n\r\n"),
        then_text("http11/close/text", &http11("/text", &close)),
        then_text("http11/close/sse", &http11("/sse", &close)),
        then_text("http11/close-capitalized/sse", &http11("/sse", &["Connection: Close"])),
        then_text(
            "http11/keep-alive-and-close/sse",
            &http11("/sse", &["Connection: keep-alive, close"]),
        ),
        then_text("http11/close-listed-second/sse", &http11("/sse", &[keep_alive[0], close[0]])),
        then_text("http11/keep-alive/text", &http11("/text", &keep_alive)),
        then_text("http11/keep-alive/sse", &http11("/sse", &keep_alive)),
        then_text("http11/te-token/sse", &http11("/sse", &["Connection: TE", "TE: trailers"])),
        then_text("http11/close-route", "GET /close HTTP/1.1\r\n\r\n"),
        Case::new("http11/close/sse-unended", http11(&unended, &close)),
    ]
}

/// `Upgrade` and `Expect` on each kind of route.
pub fn upgrade_and_expect() -> Vec<Case> {
    let websocket = [
        "Upgrade: websocket",
        "Connection: upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ];
    let h2c = [
        "Upgrade: h2c",
        "Connection: Upgrade, HTTP2-Settings",
        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
    ];
    let get = |target: &str, headers: &[&str]| request("GET", target, "HTTP/1.1", headers, "");
    let expect = |method: &str, target: &str, version: &str, headers: &[&str]| {
        let all = [&["Expect: 100-continue"], headers].concat();
        request(method, target, version, &all, "")
    };
    let (five, v11) = (["Content-Length: 5"], "HTTP/1.1");
    vec![
        then_text("upgrade/websocket/sse", &get("/sse", &websocket)),
        then_text("upgrade/websocket/text", &get("/text", &websocket)),
        then_text("upgrade/h2c/sse", &get("/sse", &h2c)),
        then_text("upgrade/without-connection-token/sse", &get("/sse", &["Upgrade: websocket"])),
        then_text("upgrade/connection-token-only/sse", &get("/sse", &["Connection: upgrade"])),
        then_text("expect/sse-no-body", &expect("GET", "/sse", v11, &[])),
        then_text("expect/text-no-body", &expect("GET", "/text", v11, &[])),
        then_text("expect/echo-body-at-once", &(expect("POST", "/echo", v11, &five) + "hello")),
        Case::new("expect/echo-body-later", expect("POST", "/echo", v11, &five))
            .later(format!("hello{TEXT}")),
        Case::new("expect/echo-body-never", expect("POST", "/echo", v11, &five)),
        Case::new("expect/sse-body-later", expect("GET", "/sse", v11, &five))
            .later(format!("hello{TEXT}")),
        then_text("expect/unknown-token", &get("/sse", &["Expect: tea"])),
        then_text("expect/http10", &expect("GET", "/sse", "HTTP/1.0", &["Connection: keep-alive"])),
        // A 2xx to CONNECT makes the connection a tunnel: no request after it (issue 18, 7).
        then_text("connect/2xx", "CONNECT /tunnel HTTP/1.1\r\nHost: x\r\n\r\n"),
        then_text("connect/405", "CONNECT /text HTTP/1.1\r\nHost: x\r\n\r\n"),
        then_text("connect/authority-form", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"),
    ]
}

/// Heads at the header-count limit and past it, oversized, split, cut short.
pub fn heads() -> Vec<Case> {
    let with_headers = |target: &str, count: usize| {
        let headers: Vec<String> =
            (0..count).map(|index| format!("X-Header-{index}: {index}")).collect();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        request("GET", target, "HTTP/1.1", &headers, "")
    };
    let sized = |target: &str, size: usize| {
        let big = format!("X-Big: {}", "a".repeat(size));
        request("GET", target, "HTTP/1.1", &[&big], "") + TEXT
    };
    let mut cases = Vec::new();
    for (name, target) in [("sse", "/sse?limit=1"), ("text", "/text")] {
        // With its `Host`, 99 headers more make hyper's limit of 100.
        cases.push(then_text(format!("head/100-headers/{name}"), &with_headers(target, 99)));
        cases.push(then_text(format!("head/101-headers/{name}"), &with_headers(target, 100)));
        cases.push(Case::new(format!("head/20-kib/{name}"), sized(target, 20 << 10)));
        // hyper refuses a head once 400 KiB of it are buffered incomplete, but parses a
        // bigger one that came in a single read (its buffer grows by doubling): 500 KiB in
        // one write is accepted or refused by timing, so it comes in pieces here.
        let big = sized(target, 500 << 10);
        let pieces = big.as_bytes().chunks(16 << 10);
        cases.push(Case::pieces(format!("head/500-kib-in-pieces/{name}"), pieces));
        cases.push(Case::new(format!("head/1-mib/{name}"), sized(target, 1 << 20)));
        let long_target = format!("GET {target}&{} HTTP/1.1\r\n\r\n", "a".repeat(70 << 10));
        cases.push(then_text(format!("head/70-kib-target/{name}"), &long_target));
    }
    let echo = request("POST", "/echo", "HTTP/1.1", &["Content-Length: 5"], "hello");
    cases.extend([
        Case::bytewise("split/bytewise/sse", SSE1),
        Case::bytewise("split/bytewise/sse-text", format!("{SSE1}{TEXT}")),
        Case::bytewise("split/bytewise/echo", format!("{echo}{TEXT}")),
        Case::pieces(
            "split/between-cr-and-lf",
            [SSE1[..SSE1.len() - 1].to_owned(), format!("\n{TEXT}")],
        ),
        Case::pieces("split/in-request-line", ["GET /s", &SSE1[6..]]),
        Case::new("partial/open", "GET /sse HTTP/1.1\r\nHo"),
        Case::new("partial/half-close", "GET /sse HTTP/1.1\r\nHo").ending(Ending::HalfClose),
        Case::new("partial/reset", "GET /sse HTTP/1.1\r\nHo").ending(Ending::Reset),
        Case::new("partial/request-line-half-close", "GET /sse HTTP/1.1\r\n")
            .ending(Ending::HalfClose),
        Case::new("partial/after-a-request-half-close", format!("{TEXT}GET /sse HT"))
            .ending(Ending::HalfClose),
        Case::new("partial/after-a-stream-reset", format!("{SSE1}GET /sse HT"))
            .ending(Ending::Reset),
        Case::new(
            "partial/body-half-close",
            request("POST", "/echo", "HTTP/1.1", &["Content-Length: 10"], "hel"),
        )
        .ending(Ending::HalfClose),
        Case::new(
            "partial/chunked-body-half-close",
            request("POST", "/echo", "HTTP/1.1", &["Transfer-Encoding: chunked"], "5\r\nhel"),
        )
        .ending(Ending::HalfClose),
        Case::new("complete/sse-half-close", SSE1).ending(Ending::HalfClose),
        Case::new("complete/text-half-close", TEXT).ending(Ending::HalfClose),
        Case::new("complete/sse-reset", SSE1).ending(Ending::Reset),
    ]);
    cases
}

/// Request lines and heads hyper refuses or must read carefully, `HEAD`s, leading CRLFs,
/// and odd targets.
pub fn malformed_and_odd() -> Vec<Case> {
    let mut cases: Vec<Case> = [
        "HELLO\r\n\r\n",
        "GET /text\r\n\r\n",
        "GET /sse HTTP/2.0\r\n\r\n",
        "GET /sse HTTP/1.2\r\n\r\n",
        "get /sse http/1.1\r\n\r\n",
        "GET  /sse HTTP/1.1\r\n\r\n",
        "GET /s se HTTP/1.1\r\n\r\n",
        " /sse HTTP/1.1\r\n\r\n",
        "GET /sse HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET /sse HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET /sse HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n",
        "GET /sse HTTP/1.1\r\nX-Nul: a\0b\r\n\r\n",
        "GET /sse HTTP/1.1\nHost: x\n\n",
        "GET /sse?limit=1 HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "GET /sse?limit=1 HTTP/1.1\r\n\r\n",
        "GET http://x/sse?limit=1 HTTP/1.1\r\n\r\n",
        "GET //sse HTTP/1.1\r\n\r\n",
        "GET /sse/ HTTP/1.1\r\n\r\n",
        "GET /SSE HTTP/1.1\r\n\r\n",
        "GET /sse?limit=0 HTTP/1.1\r\n\r\n",
        "GET /sse?limit=x HTTP/1.1\r\n\r\n",
        "POST /sse HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\n\r\n",
        "GET /nope HTTP/1.1\r\n\r\n",
        "HEAD /text HTTP/1.1\r\n\r\n",
        "HEAD /sse HTTP/1.1\r\n\r\n",
        "HEAD /empty HTTP/1.1\r\n\r\n",
        "HEAD /nope HTTP/1.1\r\n\r\n",
        "\r\nGET /sse?limit=1 HTTP/1.1\r\n\r\n",
        "\r\n\r\nGET /sse?limit=1 HTTP/1.1\r\n\r\n",
        "\nGET /sse?limit=1 HTTP/1.1\r\n\r\n",
        "GET /sse?limit=1 HTTP/1.1\r\n\r\n\r\n",
    ]
    .into_iter()
    .map(|head| then_text(format!("odd/{}", head.escape_default()), head))
    .collect();
    cases.extend([
        Case::new("garbage/binary", b"\x00\x01\x02\xff\xfe\r\n\r\n"),
        Case::new("garbage/tls-client-hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),
        Case::new("garbage/h2-prior-knowledge", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Case::new("garbage/after-a-stream", format!("{SSE1}\x00\x01garbage\r\n\r\n")),
        Case::new("leading-crlf/only", "\r\n\r\n"),
    ]);
    cases
}
