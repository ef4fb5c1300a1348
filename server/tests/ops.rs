//! Production operations against the real server: the connection limit, CORS, health and
//! metrics, compression, and shutdown of the real binary on SIGTERM.

mod common;

use common::{PATIENCE, TestServer, Via, get, get_via, next_event, open_stream, open_stream_via};
use sse_hub::{CLOSE_EVENT, EventId, GAP_EVENT};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Time between two tries while waiting for a state; never asserted on.
const POLL: Duration = Duration::from_millis(50);

async fn beyond_max_connections_sse_answers_503_with_retry_after_until_a_stream_leaves(via: Via) {
    let flags = ["--max-connections", "2", "--interval-ms", "50", "--retry-ms", "2500"];
    let server = TestServer::start(&flags).await;
    let (_, first) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let (_, _second) = open_stream_via(via, &server.url("/sse"), &[]).await;

    let refused = get_via(via, &server.url("/sse"), &[]).await;
    assert_eq!(refused.status(), 503);
    // One waiting for 2 slots: a window of 2.5 s × 1.5, a wait from half of it to all of it.
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((2..=4).contains(&retry_after), "whole seconds around 2.5 s: {retry_after}");
    assert!(refused.text().await.unwrap().contains("too many open streams"));
    assert_eq!(
        get_via(via, &server.url("/healthz"), &[]).await.status(),
        200,
        "only streams are capped"
    );

    drop(first);
    // The server notices the closed connection on its next write; poll until the slot is back.
    let mut refusals = 1;
    let deadline = Instant::now() + PATIENCE;
    let _third = loop {
        let response = get_via(via, &server.url("/sse"), &[]).await;
        if response.status() == 200 {
            break response;
        }
        assert_eq!(response.status(), 503);
        refusals += 1;
        assert!(Instant::now() < deadline, "a dropped stream never gave its slot back");
        tokio::time::sleep(POLL).await;
    };
    let metrics = metrics_text(&server).await;
    assert_eq!(metric(&metrics, "livenames_sse_connections_rejected_total"), refusals as f64);
}

/// What an EventSource sends with every request.
const EVENT_STREAM: (&str, &str) = ("Accept", "text/event-stream");

/// At the cap, an EventSource is told to come back with a stream of only `retry:` (an error
/// status would stop it for good), which closes; it subscribes to nothing meanwhile.
async fn beyond_max_connections_an_event_stream_gets_only_retry_and_the_connection_closes(
    via: Via,
) {
    let flags = ["--max-connections", "1", "--interval-ms", "50", "--retry-ms", "3000"];
    let server = TestServer::start(&flags).await;
    let (_, mut held) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let seen = next_event(&mut held).await.unwrap();
    let addr = server.url("").replace("http://", "");
    let resume = format!(
        "GET /sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: {}\r\n\r\n",
        seen.id
    );
    let requests = match via {
        Via::Fresh => resume,
        Via::KeepAlive => format!("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n{resume}"),
        Via::Fallback => {
            format!("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx{resume}")
        }
    };
    let answer = exchange_until_closed(&addr, &requests).await;
    let (head, body) = answer.rsplit_once("HTTP/1.1 ").unwrap().1.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    for line in [
        "200 ok\r\n",
        "content-type: text/event-stream\r\n",
        "cache-control: no-cache\r\n",
        "connection: close\r\n",
        &format!("content-length: {}\r\n", body.len()),
    ] {
        assert!(
            head.starts_with(line) || head.contains(&format!("\r\n{line}")),
            "{line:?} in {head}"
        );
    }
    // Only one waits for 1 slot: a window of 3 s × 2, a wait from half of it to all of it.
    let retry: u64 = body
        .strip_prefix("retry: ")
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("only `retry: <ms>` and a blank line: {body:?}"));
    assert!((3_000..=6_000).contains(&retry), "{retry} ms");

    let text = metrics_text(&server).await;
    assert_eq!(metric(&text, "livenames_sse_subscribers"), 1.0, "nothing subscribed: {text}");
    assert_eq!(metric(&text, "livenames_sse_events_replayed_total"), 0.0, "{text}");
    assert_eq!(metric(&text, "livenames_sse_connections_rejected_total"), 1.0, "{text}");
}

/// A crowd refused together is told different waits, so it does not come back at once; once
/// the slot is free, an EventSource's next request streams.
async fn refused_event_streams_come_back_spread_out_and_stream_once_a_slot_is_free(via: Via) {
    let flags = ["--max-connections", "1", "--interval-ms", "50", "--retry-ms", "3000"];
    let server = TestServer::start(&flags).await;
    let (_, held) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let mut waits = Vec::new();
    for _ in 0..20 {
        let refused = get_via(via, &server.url("/sse"), &[EVENT_STREAM]).await;
        assert_eq!(refused.status(), 200);
        waits.push(refused.text().await.unwrap());
    }
    waits.sort();
    waits.dedup();
    assert!(waits.len() >= 10, "20 refusals, {} distinct waits: {waits:?}", waits.len());

    drop(held);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[EVENT_STREAM]).await;
        // A refusal holds no event at all.
        if next_event(&mut events).await.is_some_and(|event| event.event == "message") {
            break;
        }
        assert!(Instant::now() < deadline, "a dropped stream never gave its slot back");
        tokio::time::sleep(POLL).await;
    }
}

/// Writes `requests` on a new connection and reads until the server closes it.
async fn exchange_until_closed(addr: &str, requests: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer)).await;
    read.expect("the server closes the connection after the answer").unwrap();
    String::from_utf8(answer).unwrap()
}

async fn an_allowed_origin_may_read_the_stream_and_others_get_no_cors_header(via: Via) {
    let server = TestServer::start(&["--allow-origin", "http://example.test"]).await;
    let url = server.url("/sse?limit=1");
    let allowed = get_via(via, &url, &[("Origin", "http://example.test")]).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "http://example.test");

    let refused = get_via(via, &url, &[("Origin", "http://elsewhere.test")]).await;
    assert_eq!(refused.status(), 200, "the browser, not the server, refuses the response");
    assert!(!refused.headers().contains_key("access-control-allow-origin"));

    // A reconnecting EventSource's Last-Event-ID needs a preflight, which must pass.
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/sse"))
        .header("Origin", "http://example.test")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "last-event-id")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let header = |name: &str| preflight.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("access-control-allow-origin"), "http://example.test");
    assert_eq!(header("access-control-allow-methods"), "GET");
    assert!(header("access-control-allow-headers").contains("last-event-id"));
}

async fn without_allowed_origins_no_cors_header_is_sent(via: Via) {
    let server = TestServer::start(&[]).await;
    let response =
        get_via(via, &server.url("/sse?limit=1"), &[("Origin", "http://example.test")]).await;
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn healthz_reports_subscribers_and_the_latest_id() {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let before = health(&server).await;
    assert_eq!(before["status"], "ok");
    assert_eq!(before["subscribers"], 0);

    let (_, mut events) = open_stream(&server.url("/sse"), &[]).await;
    let seen = next_event(&mut events).await.unwrap();
    let after = health(&server).await;
    assert_eq!(after["subscribers"], 1);
    let latest: EventId = after["last_event_id"].as_str().unwrap().parse().unwrap();
    assert!(latest >= seen.id.parse().unwrap(), "{latest} is at least the event seen");
}

#[tokio::test]
async fn metrics_count_publishing_delivery_replays_and_gaps() {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut events) = open_stream(&server.url("/sse"), &[]).await;
    let first = next_event(&mut events).await.unwrap();
    let mut data_bytes = first.data.len();
    for _ in 0..2 {
        data_bytes += next_event(&mut events).await.unwrap().data.len();
    }
    let response = get(&server.url("/metrics"), &[]).await;
    assert!(response.headers()["content-type"].to_str().unwrap().contains("openmetrics-text"));
    let text = response.text().await.unwrap();
    assert!(metric(&text, "livenames_sse_events_published_total") >= 3.0, "{text}");
    assert_eq!(metric(&text, "livenames_sse_subscribers"), 1.0, "{text}");
    assert!(metric(&text, "livenames_sse_events_delivered_total") >= 3.0, "{text}");
    assert!(metric(&text, "livenames_sse_delivered_bytes_total") > data_bytes as f64, "{text}");
    for zero in [
        "livenames_sse_events_replayed_total",
        "livenames_sse_resume_gaps_total",
        "livenames_sse_subscribers_dropped_slow_total",
        "livenames_sse_connections_rejected_total",
    ] {
        assert_eq!(metric(&text, zero), 0.0, "{zero} in\n{text}");
    }

    // Resuming after the first event replays at least the two seen after it.
    let (_, mut resumed) = open_stream(&server.url("/sse"), &[("Last-Event-ID", &first.id)]).await;
    let replayed = next_event(&mut resumed).await.unwrap();
    assert_eq!(index(&replayed.id), index(&first.id) + 1);
    assert!(metric(&metrics_text(&server).await, "livenames_sse_events_replayed_total") >= 2.0);

    // An id of another run cannot be resumed: a gap.
    let (_, mut lost) = open_stream(&server.url("/sse"), &[("Last-Event-ID", "1-1")]).await;
    assert_eq!(next_event(&mut lost).await.unwrap().event, GAP_EVENT);
    let text = metrics_text(&server).await;
    assert_eq!(metric(&text, "livenames_sse_resume_gaps_total"), 1.0, "{text}");
    assert_eq!(metric(&text, "livenames_sse_subscribers"), 3.0, "{text}");
}

async fn the_stream_is_never_compressed_and_the_page_is(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let gzip = [("Accept-Encoding", "gzip")];
    let (head, mut events) = open_stream_via(via, &server.url("/sse"), &gzip).await;
    assert!(!head.headers().contains_key("content-encoding"), "{:?}", head.headers());
    for _ in 0..2 {
        let event = next_event(&mut events).await.expect("events still stream");
        assert!(event.id.parse::<EventId>().is_ok(), "plain SSE: {event:?}");
    }

    let page = get_via(via, &server.url("/"), &gzip).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-encoding"], "gzip");
    let compressed = page.bytes().await.unwrap();
    let mut html = String::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut html).expect("gzip");
    assert!(html.contains("<title>livenames</title>"), "{html}");

    let plain = get_via(via, &server.url("/"), &[]).await;
    assert!(!plain.headers().contains_key("content-encoding"), "only when asked for");
}

async fn sigterm_ends_streams_without_close_and_exits_within_the_timeout(via: Via) {
    let mut server = Binary::start(&["--interval-ms", "50", "--shutdown-timeout-secs", "2"]);
    let url = format!("http://{}/sse", server.addr);
    let (_, mut a) = open_stream_via(via, &url, &[]).await;
    let (_, mut b) = open_stream_via(via, &url, &[]).await;
    assert!(next_event(&mut a).await.is_some() && next_event(&mut b).await.is_some());
    // A client stuck halfway through its request would hold graceful shutdown forever.
    let mut stuck = std::net::TcpStream::connect(&server.addr).unwrap();
    stuck.write_all(b"GET / HTTP/1.1\r\nHost: livenames\r\n").unwrap();

    server.terminate();
    for events in [&mut a, &mut b] {
        while let Some(event) = next_event(events).await {
            assert_ne!(event.event, CLOSE_EVENT, "browsers must reconnect to the next server");
        }
    }
    let status = server.wait(Duration::from_secs(5)).await;
    assert!(status.success(), "{status}");
    let log = server.log();
    assert!(log.contains("subscriber connected") && log.contains("subscriber disconnected"));
}

#[tokio::test]
async fn shutdown_returns_within_the_timeout_while_a_client_holds_a_half_sent_request() {
    let server = TestServer::start(&["--shutdown-timeout-secs", "1"]).await;
    let addr = server.url("").trim_start_matches("http://").to_string();
    let mut stuck = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stuck, b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Let the server take the connection in before it is told to stop.
    assert_eq!(get(&server.url("/healthz"), &[]).await.status(), 200);
    server.stop().await.expect("a clean return, bounded by PATIENCE");
}

/// The real server binary on an ephemeral port, killed if a test leaves it running.
struct Binary {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
}

impl Binary {
    fn start(flags: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        // A thread drains stdout, so that the server never blocks on a full pipe.
        let (sender, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let addr = loop {
            let line = lines.recv_timeout(PATIENCE).expect("a `listening on` line");
            if let Some((_, addr)) = line.split_once("listening on http://") {
                break addr.trim().to_string();
            }
        };
        Self { child, addr, lines }
    }

    fn terminate(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM sent");
    }

    /// The exit status, or a failed test (and a killed process) after `limit`.
    async fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server still runs {limit:?} after SIGTERM");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Everything logged since start-up.
    fn log(&self) -> String {
        self.lines.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn a_subscriber_that_never_reads_is_dropped_and_a_reader_beside_it_misses_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // No heartbeat within the test: a `ping` carries the previous event's id, which the
    // reader below would count as that event twice.
    let args = ["--interval-ms", "2", "--stall-timeout-secs", "1", "--keepalive-secs", "3600"];
    let server = TestServer::start(&args).await;
    let (_, mut reader) = open_stream(&server.url("/sse"), &[]).await;

    // A tiny receive window that is never read: the server's writes to it soon stall.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr = server.url("").trim_start_matches("http://").parse().unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    stalled.write_all(b"GET /sse HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();

    let mut indices = Vec::new();
    let mut rounds = 0;
    while metric(&metrics_text(&server).await, "livenames_connections_stalled_total") < 1.0 {
        rounds += 1;
        assert!(rounds <= 300, "the stalled subscriber was never dropped");
        for _ in 0..50 {
            indices.push(index(&next_event(&mut reader).await.unwrap().id));
        }
    }
    let expected: Vec<u64> = (indices[0]..indices[0] + indices.len() as u64).collect();
    assert_eq!(indices, expected, "the reader beside it got every event once, in order");

    // Its connection is closed: what the server had buffered drains, then the stream ends.
    let mut drained = 0;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match tokio::time::timeout(PATIENCE, stalled.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(read)) => drained += read,
            Err(_) => panic!("the stalled connection is still open after {drained} bytes"),
        }
    }
    assert!(drained < 16 << 20, "what a stalled subscriber cost is bounded: {drained} bytes");
    let text = metrics_text(&server).await;
    assert_eq!(metric(&text, "livenames_sse_subscribers"), 1.0, "only the reader is left");
}

#[tokio::test]
async fn the_icon_is_served_with_a_cache_header_and_linked_from_every_page() {
    let server = TestServer::start(&[]).await;
    let icon = get(&server.url("/favicon.svg"), &[]).await;
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    let cache = icon.headers()["cache-control"].to_str().unwrap().to_string();
    assert!(cache.contains("max-age=86400"), "{cache}");
    assert!(icon.text().await.unwrap().starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));

    let link = r#"<link rel="icon" type="image/svg+xml" href="/favicon.svg">"#;
    for path in ["/", "/no/such/page"] {
        let html = get(&server.url(path), &[]).await.text().await.unwrap();
        assert!(html.contains(link), "{path}: {html}");
        let build = format!(r#"<meta name="livenames-build" content="{}">"#, app::BUILD_ID);
        assert!(html.contains(&build), "{path} names its build for the page's script: {html}");
    }

    // Where no page links it, browsers ask for /favicon.ico.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build();
    let ico = client.unwrap().get(server.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(ico.status(), 308);
    assert_eq!(ico.headers()["location"], "/favicon.svg");
}

async fn health(server: &TestServer) -> serde_json::Value {
    let response = get(&server.url("/healthz"), &[]).await;
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.unwrap()).expect("JSON")
}

async fn metrics_text(server: &TestServer) -> String {
    get(&server.url("/metrics"), &[]).await.text().await.unwrap()
}

/// The value of the series `name` (without labels) in a metrics text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {name} in\n{text}"))
}

fn index(id: &str) -> u64 {
    id.parse::<EventId>().unwrap().index
}

on_every_path!(
    beyond_max_connections_sse_answers_503_with_retry_after_until_a_stream_leaves,
    beyond_max_connections_an_event_stream_gets_only_retry_and_the_connection_closes,
    refused_event_streams_come_back_spread_out_and_stream_once_a_slot_is_free,
    an_allowed_origin_may_read_the_stream_and_others_get_no_cors_header,
    without_allowed_origins_no_cors_header_is_sent,
    the_stream_is_never_compressed_and_the_page_is,
    sigterm_ends_streams_without_close_and_exits_within_the_timeout,
);
