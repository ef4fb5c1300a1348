//! The hub's metrics count what really happens: read back from the counters and from the
//! text a Prometheus scrape would get.

use futures::{Stream, StreamExt};
use prometheus_client::registry::Registry;
use sse_hub::{Hub, StreamOptions};
use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn hub(history: usize, backlog: usize) -> Hub<u64> {
    Hub::new(NonZeroUsize::new(history).unwrap(), NonZeroUsize::new(backlog).unwrap())
}

fn options(stop: &CancellationToken) -> StreamOptions {
    StreamOptions {
        retry: Duration::from_millis(1000),
        heartbeat: Duration::from_secs(15),
        limit: None,
        stop: stop.clone(),
    }
}

/// Reads until `events` data events (`id:` lines) have arrived; returns the bytes read.
async fn read_events(
    body: &mut (impl Stream<Item = Result<bytes::Bytes, Infallible>> + Unpin),
    events: usize,
) -> String {
    let mut text = String::new();
    while text.matches("\nid: ").count() + usize::from(text.starts_with("id: ")) < events {
        let next = tokio::time::timeout(Duration::from_secs(60), body.next()).await;
        match next.expect("no hang") {
            Some(Ok(chunk)) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
            None => break,
        }
    }
    text
}

#[test]
fn every_series_is_registered_under_the_callers_prefix() {
    let hub = hub(4, 4);
    let mut registry = Registry::default();
    hub.metrics().register(registry.sub_registry_with_prefix("sse"));
    hub.publish(|index| index);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for series in [
        "sse_subscribers 0",
        "sse_events_published_total 1",
        "sse_events_delivered_total 0",
        "sse_delivered_bytes_total 0",
        "sse_subscribers_dropped_slow_total 0",
        "sse_events_replayed_total 0",
        "sse_resume_gaps_total 0",
    ] {
        assert!(text.lines().any(|line| line == series), "no line {series:?} in\n{text}");
    }
}

#[tokio::test]
async fn the_subscriber_gauge_follows_subscriptions_and_their_streams() {
    let hub = hub(4, 4);
    let stop = CancellationToken::new();
    let gauge = || hub.metrics().subscribers.get();
    let unused = hub.subscribe(None).unwrap();
    assert_eq!(gauge(), 1);
    drop(unused);
    assert_eq!(gauge(), 0, "a subscription never streamed still leaves");

    let stream = hub.subscribe(None).unwrap().into_stream(options(&stop));
    assert_eq!(gauge(), 1, "the stream carries the subscriber's place");
    drop(stream);
    assert_eq!(gauge(), 0);

    let mut ended = Box::pin(hub.subscribe(None).unwrap().into_stream(options(&stop)));
    stop.cancel();
    assert_eq!(gauge(), 1);
    assert!(ended.next().await.is_none());
    assert_eq!(gauge(), 0, "a stream that has ended no longer counts");
}

#[tokio::test]
async fn delivered_events_and_bytes_are_what_the_subscriber_read() {
    let hub = hub(8, 8);
    let stop = CancellationToken::new();
    for _ in 0..3 {
        hub.publish(|index| index);
    }
    let resumed = hub.subscribe(Some(&format!("{}-0", hub.epoch()))).unwrap();
    assert_eq!(hub.metrics().replayed.get(), 3);
    let mut body = Box::pin(resumed.into_stream(options(&stop)));
    let replayed = read_events(&mut body, 3).await;
    hub.publish(|index| index);
    let live = read_events(&mut body, 1).await;

    let metrics = hub.metrics();
    assert_eq!(metrics.published.get(), 4);
    assert_eq!(metrics.delivered.get(), 4);
    assert_eq!(metrics.delivered_bytes.get(), (replayed.len() + live.len()) as u64);
    assert_eq!(metrics.gaps.get(), 0);
}

#[test]
fn a_fresh_subscriber_replays_nothing_and_a_lost_resume_is_a_gap() {
    let hub = hub(2, 4);
    for _ in 0..5 {
        hub.publish(|index| index);
    }
    hub.subscribe(None).unwrap();
    hub.subscribe(Some("not-an-id")).unwrap();
    assert_eq!((hub.metrics().replayed.get(), hub.metrics().gaps.get()), (0, 0));

    hub.subscribe(Some(&format!("{}-1", hub.epoch()))).unwrap();
    hub.subscribe(Some("1-1")).unwrap();
    assert_eq!(hub.metrics().gaps.get(), 2, "older than the history, and another epoch");
    assert_eq!(hub.metrics().replayed.get(), 0, "a gap replays nothing");
}

#[tokio::test]
async fn a_subscriber_ended_for_lagging_is_counted_as_dropped_slow() {
    let hub = hub(16, 2);
    let stop = CancellationToken::new();
    let mut slow = Box::pin(hub.subscribe(None).unwrap().into_stream(options(&stop)));
    for _ in 0..5 {
        hub.publish(|index| index);
    }
    assert_eq!(hub.metrics().dropped_slow.get(), 0, "nothing is decided before a read");
    while slow.next().await.is_some() {}
    assert_eq!(hub.metrics().dropped_slow.get(), 1);
}
