//! `GET /sse` against the real server on loopback, read by a real SSE client.

mod common;

use app::event::NamesEvent;
use common::{PATIENCE, TestServer, Via, get, get_via, next_event, open_stream_via};
use http::Method;
use http_body_util::BodyExt;
use server::names::{NAMES_PER_EVENT, name_at, surnames};
use sse_hub::{CLOSE_EVENT, EventId, GAP_EVENT, PING_EVENT};
use std::time::{SystemTime, UNIX_EPOCH};

async fn stream_has_the_headers_a_proxy_and_a_browser_need(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (head, _events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let header = |name: &str| head.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("content-type"), "text/event-stream");
    assert_eq!(header("cache-control"), "no-cache");
    assert_eq!(header("connection"), "keep-alive");
    assert_eq!(header("x-accel-buffering"), "no");
}

async fn events_carry_id_the_classic_json_and_retry_once(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut previous: Option<EventId> = None;
    for n in 0..3 {
        let event = next_event(&mut events).await.expect("a data event");
        assert_eq!(event.event, "message");
        // `retry:` once per connection, with its first event (the browser keeps it).
        match (n, event.retry) {
            (0, Some(retry)) => {
                assert!((8_000..=12_000).contains(&retry.as_millis()), "10 s ± 20 %: {retry:?}")
            }
            (0, None) => panic!("the first event carries retry:"),
            (_, retry) => assert_eq!(retry, None, "retry: only once"),
        }
        let id: EventId = event.id.parse().expect("id is <epoch>-<index>");
        assert_exact_shape(&event.data);
        let payload: NamesEvent = serde_json::from_str(&event.data).unwrap();
        assert_eq!(payload.index, id.index, "the id names the event's index");
        assert!(id.epoch <= now_ms && now_ms - id.epoch < 60_000, "epoch is the stream's start");
        assert_valid_names(&payload);
        assert!(humantime::parse_rfc3339(&payload.info).is_ok(), "{}", payload.info);
        assert!(payload.info.ends_with('Z') && payload.info.contains('.'), "{}", payload.info);
        if let Some(previous) = previous {
            assert_eq!(id, EventId { index: previous.index + 1, ..previous }, "ids grow by one");
        }
        previous = Some(id);
    }
}

async fn first_event_of_a_fresh_stream_has_index_one(via: Via) {
    let server = TestServer::start(&["--interval-ms", "300"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let first = next_event(&mut events).await.unwrap();
    assert_eq!(first.id.parse::<EventId>().unwrap().index, 1);
}

async fn wire_format_is_the_classic_one_byte_for_byte(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50", "--retry-ms", "2500"]).await;
    let body = get_via(via, &server.url("/sse?limit=1"), &[]).await.text().await.unwrap();
    let blocks: Vec<&str> = body.split_terminator("\n\n").collect();
    assert_eq!(blocks.len(), 2, "one data event, then close: {body:?}");
    let lines: Vec<&str> = blocks[0].lines().collect();
    assert_eq!(lines.len(), 3, "{body:?}");
    // retry: first, once per connection, so that every subscriber shares the id/data bytes
    // of the event.
    let retry: u64 = lines[0].strip_prefix("retry: ").expect("retry first").parse().unwrap();
    assert!((2_000..=3_000).contains(&retry), "2.5 s ± 20 %: {retry}");
    let id = lines[1].strip_prefix("id: ").expect("then id");
    assert!(id.parse::<EventId>().is_ok(), "{id}");
    let data = lines[2].strip_prefix("data: ").expect("data on one line");
    assert_exact_shape(data);
    assert_eq!(blocks[1], "event: close\ndata: this connection's limit of 1 events was reached");
}

async fn limit_closes_one_connection_and_its_reconnect_gets_204(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse?limit=2"), &[]).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(next_event(&mut events).await.unwrap().id);
    }
    let close = next_event(&mut events).await.expect("close event");
    assert_eq!(close.event, CLOSE_EVENT);
    assert!(!close.data.is_empty(), "close says why");
    assert!(next_event(&mut events).await.is_none(), "the response ends after close");

    let reconnect = get_via(via, &server.url("/sse?limit=2"), &[("Last-Event-ID", &ids[1])]).await;
    assert_eq!(reconnect.status(), 204, "a browser reconnecting an ended stream stops");
    // The shared stream itself goes on for everyone else.
    let (_, mut others) = open_stream_via(via, &server.url("/sse"), &[]).await;
    assert!(next_event(&mut others).await.is_some());
}

/// A stream that ends leaves its connection open for the next request, as its head said
/// `keep-alive`: a client that reuses the connection at once (browsers, Node) is served.
async fn an_ended_stream_leaves_its_connection_for_the_next_request(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let address = server.url("").replace("http://", "");
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(tcp);
    let (mut connection, driver) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(driver);
    if let Some((method, body)) = via.warm_up() {
        let (status, _) = send(&mut connection, method, "/healthz", body).await;
        assert!([200, 405].contains(&status.as_u16()), "{status}");
    }
    let (status, stream) = send(&mut connection, Method::GET, "/sse?limit=1", "").await;
    assert_eq!(status, 200);
    assert!(stream.contains("\nevent: close\n"), "{stream}");
    let (status, health) = send(&mut connection, Method::GET, "/healthz", "").await;
    assert_eq!(status, 200, "{health}");
}

/// Sends one request on `connection` and reads its response whole.
async fn send(
    connection: &mut hyper::client::conn::http1::SendRequest<String>,
    method: Method,
    path: &str,
    body: &str,
) -> (http::StatusCode, String) {
    let request = http::Request::builder().method(method).uri(path).header("host", "livenames");
    let response = connection.send_request(request.body(body.to_string()).unwrap());
    let response = tokio::time::timeout(PATIENCE, response).await.unwrap();
    let (head, body) = response.expect("the connection carries the request").into_parts();
    let body = tokio::time::timeout(PATIENCE, body.collect()).await.unwrap();
    (head.status, String::from_utf8(body.unwrap().to_bytes().to_vec()).unwrap())
}

async fn the_stream_is_counted_under_its_writer(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    assert!(next_event(&mut events).await.is_some());
    let metrics = get(&server.url("/metrics"), &[]).await.text().await.unwrap();
    for writer in ["lean", "hyper"] {
        let series = format!("livenames_sse_streams{{writer=\"{writer}\"}} ");
        let open = if writer == via.writer() { 1 } else { 0 };
        assert!(metrics.contains(&format!("{series}{open}\n")), "{series}{open}: {metrics}");
    }
}

async fn max_events_ends_the_stream_for_everyone(via: Via) {
    let server = TestServer::start(&["--interval-ms", "200", "--max-events", "3"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let mut last_index = 0;
    let close = loop {
        let event = next_event(&mut events).await.expect("data, then close");
        if event.event == CLOSE_EVENT {
            break event;
        }
        last_index = event.id.parse::<EventId>().unwrap().index;
    };
    assert_eq!(last_index, 3, "close follows the 3rd event");
    assert!(close.data.contains('3'), "{}", close.data);
    assert!(next_event(&mut events).await.is_none());

    assert_eq!(get_via(via, &server.url("/sse"), &[]).await.status(), 204);
    let reconnect = get_via(via, &server.url("/sse"), &[("Last-Event-ID", "1-3")]).await;
    assert_eq!(reconnect.status(), 204);
}

async fn two_subscribers_see_the_same_events(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut a) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let (_, mut b) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let (mut event_a, mut event_b) =
        (next_event(&mut a).await.unwrap(), next_event(&mut b).await.unwrap());
    // b subscribed a moment after a, so it may start later: line the two up.
    while index_of(&event_a) < index_of(&event_b) {
        event_a = next_event(&mut a).await.unwrap();
    }
    for _ in 0..3 {
        assert_eq!((&event_a.id, &event_a.data), (&event_b.id, &event_b.data));
        event_a = next_event(&mut a).await.unwrap();
        event_b = next_event(&mut b).await.unwrap();
    }
}

fn index_of(event: &eventsource_stream::Event) -> u64 {
    event.id.parse::<EventId>().unwrap().index
}

async fn a_bad_limit_is_a_400_that_says_why(via: Via) {
    let server = TestServer::start(&[]).await;
    for query in ["limit=abc", "limit=0", "limit=-1", "limit=1.5", "limit=18446744073709551616"] {
        let response = get_via(via, &server.url(&format!("/sse?{query}")), &[]).await;
        assert_eq!(response.status(), 400, "{query}");
        let message = response.text().await.unwrap();
        assert!(
            message.contains("limit") && message.contains("whole number"),
            "{query}: {message}"
        );
    }
}

async fn shutdown_ends_open_streams_without_close(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    assert!(next_event(&mut events).await.is_some());
    server.stop().await.expect("clean shutdown");
    // What was in flight may still arrive; the stream must then end, never with `close`
    // (browsers should reconnect to the next instance).
    while let Some(event) = next_event(&mut events).await {
        assert_ne!(event.event, CLOSE_EVENT);
    }
}

async fn the_page_is_rendered_and_unknown_paths_are_404(via: Via) {
    let server = TestServer::start(&[]).await;
    let page = get_via(via, &server.url("/"), &[]).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>livenames</title>"), "{html}");
    assert!(html.contains(r#"data-testid="names""#), "{html}");

    let missing = get_via(via, &server.url("/no/such/page"), &[]).await;
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains(r#"data-testid="not-found""#));
}

async fn the_page_speaks_the_language_asked_for(via: Via) {
    let server = TestServer::start(&[]).await;
    let url = server.url("/");
    let page = |headers| {
        let url = url.clone();
        async move { get_via(via, &url, headers).await.text().await.unwrap() }
    };
    let chinese = page(&[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")]).await;
    assert!(chinese.contains(r#"<html lang="zh-CN""#), "{chinese}");
    assert!(chinese.contains("<th scope=\"col\">名字</th>"), "{chinese}");
    let english = page(&[("accept-language", "fr, en;q=0.5")]).await;
    assert!(english.contains(r#"<html lang="en""#), "{english}");
    assert!(english.contains("<th scope=\"col\">Name</th>"), "{english}");
    // The toggle's cookie wins over the header.
    let chosen = page(&[("accept-language", "zh"), ("cookie", "lang=en")]).await;
    assert!(chosen.contains(r#"<html lang="en""#), "{chosen}");
}

async fn first_connection_gets_the_latest_event_at_once(via: Via) {
    // A long interval: after the first event, nothing new comes for a second.
    let server = TestServer::start(&["--interval-ms", "1000"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let published = next_event(&mut events).await.unwrap();
    let (_, mut newcomer) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let first = next_event(&mut newcomer).await.unwrap();
    assert_eq!((first.id, first.data), (published.id, published.data), "no wait for the next");
}

async fn resume_replays_every_missed_event_once(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let seen = next_event(&mut events).await.unwrap();
    for _ in 0..4 {
        next_event(&mut events).await.unwrap();
    }
    drop(events);
    // A browser's own reconnect (header) and a new EventSource (query) resume alike.
    for headers in [vec![("Last-Event-ID", seen.id.as_str())], vec![]] {
        let url = match headers.is_empty() {
            true => server.url(&format!("/sse?lastEventId={}", seen.id)),
            false => server.url("/sse"),
        };
        let (_, mut resumed) = open_stream_via(via, &url, &headers).await;
        for expected in index_of(&seen) + 1..=index_of(&seen) + 6 {
            assert_eq!(index_of(&next_event(&mut resumed).await.unwrap()), expected, "{url}");
        }
    }
}

async fn the_header_wins_over_the_query_and_bad_ids_never_fail(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let seen = next_event(&mut events).await.unwrap();
    next_event(&mut events).await.unwrap();
    let stale = format!("{}-0", seen.id.split('-').next().unwrap());
    let url = server.url(&format!("/sse?lastEventId={stale}"));
    let (_, mut resumed) = open_stream_via(via, &url, &[("Last-Event-ID", &seen.id)]).await;
    assert_eq!(index_of(&next_event(&mut resumed).await.unwrap()), index_of(&seen) + 1);

    for bad in ["nonsense", "-1-2", "1-2-3", "99999999999999999999-1", "1-%FF"] {
        let response = get_via(via, &server.url(&format!("/sse?lastEventId={bad}")), &[]).await;
        assert_eq!(response.status(), 200, "{bad}");
        let response = get_via(via, &server.url("/sse"), &[("Last-Event-ID", bad)]).await;
        assert_eq!(response.status(), 200, "{bad}");
    }
}

async fn an_id_from_another_run_gets_a_gap_then_the_latest_event(via: Via) {
    let server = TestServer::start(&["--interval-ms", "50"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let current = next_event(&mut events).await.unwrap();
    let (_, mut resumed) =
        open_stream_via(via, &server.url("/sse"), &[("Last-Event-ID", "1-5")]).await;
    let gap = next_event(&mut resumed).await.unwrap();
    assert_eq!(gap.event, GAP_EVENT);
    let first_available: EventId = gap.data.parse().expect("gap names the first id available");
    assert_eq!(first_available.epoch, current.id.parse::<EventId>().unwrap().epoch);
    let latest = next_event(&mut resumed).await.unwrap();
    assert_eq!(latest.event, "message");
    assert!(index_of(&latest) >= index_of(&current));
}

async fn heartbeat_is_a_ping_event_within_its_period(via: Via) {
    let server = TestServer::start(&["--interval-ms", "600000", "--keepalive-secs", "1"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let ping = next_event(&mut events).await.expect("a heartbeat while no data flows");
    assert_eq!(ping.event, PING_EVENT);
    assert!(ping.id.is_empty(), "a heartbeat must not move the browser's Last-Event-ID");
}

async fn the_page_is_rendered_with_the_latest_event_and_subscribes_from_it(via: Via) {
    let server = TestServer::start(&["--interval-ms", "1000"]).await;
    let (_, mut events) = open_stream_via(via, &server.url("/sse"), &[]).await;
    let latest = next_event(&mut events).await.unwrap();
    let html = get_via(via, &server.url("/"), &[]).await.text().await.unwrap();
    let payload: NamesEvent = serde_json::from_str(&latest.data).unwrap();
    for entry in &payload.list {
        let cell = format!("<td>{}</td>", entry.name);
        assert!(html.contains(&cell), "the rendered table lacks {cell}");
    }
    assert!(html.contains(&format!(r#"data-id="{}""#, latest.id)), "the log starts at the event");
    assert!(html.contains(&latest.id), "the id reaches the hydrating page");
}

/// The JSON has exactly the classic keys: nothing more, nothing less.
fn assert_exact_shape(data: &str) {
    let json: serde_json::Value = serde_json::from_str(data).expect("data is JSON");
    let object = json.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["index", "info", "list"]);
    let list = object["list"].as_array().expect("list is an array");
    assert_eq!(list.len(), NAMES_PER_EVENT);
    for item in list {
        let mut item_keys: Vec<&str> =
            item.as_object().unwrap().keys().map(String::as_str).collect();
        item_keys.sort();
        assert_eq!(item_keys, ["name", "value"]);
        assert!(item["name"].is_string() && item["value"].is_u64(), "{item}");
    }
    assert!(object["info"].is_string() && object["index"].is_u64());
}

/// Every name follows the rule from its value.
fn assert_valid_names(event: &NamesEvent) {
    for entry in &event.list {
        let value = entry.value as usize;
        assert!(value < surnames().len());
        assert_eq!(entry.name, name_at(value));
    }
}

on_every_path!(
    the_stream_is_counted_under_its_writer,
    stream_has_the_headers_a_proxy_and_a_browser_need,
    events_carry_id_the_classic_json_and_retry_once,
    first_event_of_a_fresh_stream_has_index_one,
    wire_format_is_the_classic_one_byte_for_byte,
    limit_closes_one_connection_and_its_reconnect_gets_204,
    an_ended_stream_leaves_its_connection_for_the_next_request,
    max_events_ends_the_stream_for_everyone,
    two_subscribers_see_the_same_events,
    a_bad_limit_is_a_400_that_says_why,
    shutdown_ends_open_streams_without_close,
    the_page_is_rendered_and_unknown_paths_are_404,
    the_page_speaks_the_language_asked_for,
    first_connection_gets_the_latest_event_at_once,
    resume_replays_every_missed_event_once,
    the_header_wins_over_the_query_and_bad_ids_never_fail,
    an_id_from_another_run_gets_a_gap_then_the_latest_event,
    heartbeat_is_a_ping_event_within_its_period,
    the_page_is_rendered_with_the_latest_event_and_subscribes_from_it,
);
