//! The hub end to end: publish, subscribe from every position, read the bytes a client gets.

use futures::{Stream, StreamExt};
use sse_hub::{EventId, EventName, Hub, Start, StreamOptions, TryNext};
use std::convert::Infallible;
use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const HEARTBEAT: Duration = Duration::from_secs(15);

fn hub(history: usize, backlog: usize) -> Hub<u64> {
    Hub::new(NonZeroUsize::new(history).unwrap(), NonZeroUsize::new(backlog).unwrap())
}

fn options(limit: Option<u64>, stop: &CancellationToken) -> StreamOptions {
    StreamOptions {
        retry: Duration::from_millis(1234),
        heartbeat: HEARTBEAT,
        limit: limit.and_then(NonZeroU64::new),
        stop: stop.clone(),
    }
}

/// One parsed SSE block: its `event` (None for a plain message), `id` and `data`.
#[derive(Debug, PartialEq)]
struct Block {
    event: Option<String>,
    id: Option<String>,
    data: String,
    retry: Option<String>,
}

/// Reads blocks until `count` have arrived (bounded by a timeout) or the stream ends.
async fn read_blocks(
    body: &mut (impl Stream<Item = Result<bytes::Bytes, Infallible>> + Unpin),
    count: usize,
) -> Vec<Block> {
    read_text(body, count).await.split_terminator("\n\n").map(parse_block).collect()
}

/// The bytes of the next `count` blocks, as they are sent.
async fn read_text(
    body: &mut (impl Stream<Item = Result<bytes::Bytes, Infallible>> + Unpin),
    count: usize,
) -> String {
    let mut text = String::new();
    while text.matches("\n\n").count() < count {
        match tokio::time::timeout(Duration::from_secs(60), body.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
            Ok(None) => break,
            Err(_) => panic!("no block within 60 s; so far: {text:?}"),
        }
    }
    text
}

fn parse_block(block: &str) -> Block {
    let mut parsed = Block { event: None, id: None, data: String::new(), retry: None };
    for line in block.lines() {
        let (field, value) = line.split_once(": ").unwrap_or((line, ""));
        match field {
            "event" => parsed.event = Some(value.into()),
            "id" => parsed.id = Some(value.into()),
            "retry" => parsed.retry = Some(value.into()),
            "data" => parsed.data.push_str(value),
            other => panic!("unexpected field {other:?} in {block:?}"),
        }
    }
    parsed
}

fn indices(blocks: &[Block]) -> Vec<u64> {
    blocks
        .iter()
        .filter_map(|b| b.id.as_ref())
        .map(|id| id.parse::<EventId>().unwrap().index)
        .collect()
}

#[tokio::test]
async fn resume_from_every_position() {
    // History of 3 holds events 3..=5.
    let hub = hub(3, 16);
    for _ in 0..5 {
        hub.publish(|index| index * 10);
    }
    let epoch = hub.epoch();
    let at = |index: u64| format!("{epoch}-{index}");
    let other_epoch = format!("{}-4", epoch - 1);
    let cases: Vec<(Option<String>, Start, Vec<u64>, bool)> = vec![
        // (Last-Event-ID, start, indices before the next live event, gap first)
        (None, Start::Latest, vec![5], false),
        (Some(at(2)), Start::After(2), vec![3, 4, 5], false), // just before the oldest kept
        (Some(at(3)), Start::After(3), vec![4, 5], false),    // first in history
        (Some(at(4)), Start::After(4), vec![5], false),       // middle
        (Some(at(5)), Start::After(5), vec![], false),        // last: nothing to replay
        (Some(at(1)), Start::Gap, vec![5], true),             // just outside history
        (Some(other_epoch), Start::Gap, vec![5], true),       // another run of the server
        (Some(at(6)), Start::Latest, vec![5], false),         // from the future
        (Some(at(u64::MAX)), Start::Latest, vec![5], false),
    ];
    let malformed = ["", "5", "abc", "-1-5", "1-2-3", " 1-2", "18446744073709551616-1"];
    let cases = cases
        .into_iter()
        .chain(malformed.iter().map(|raw| (Some(raw.to_string()), Start::Latest, vec![5], false)));

    let stop = CancellationToken::new();
    let mut streams = Vec::new();
    for (last_event_id, start, expected, gap) in cases {
        let subscription = hub.subscribe(last_event_id.as_deref()).unwrap();
        assert_eq!(subscription.start(), start, "{last_event_id:?}");
        streams.push((
            last_event_id,
            expected,
            gap,
            Box::pin(subscription.into_stream(options(None, &stop))),
        ));
    }
    hub.publish(|index| index * 10);
    for (last_event_id, mut expected, gap, mut body) in streams {
        expected.push(6);
        let blocks = read_blocks(&mut body, expected.len() + usize::from(gap)).await;
        assert_eq!(indices(&blocks), expected, "{last_event_id:?}");
        if gap {
            assert_eq!(blocks[0].event.as_deref(), Some("gap"), "{last_event_id:?}");
            assert_eq!(blocks[0].data, at(3), "gap names the first id available");
        }
        // `retry:` once, with the connection's first frame (the gap, or its first event).
        assert_eq!(blocks[0].retry.as_deref(), Some("1234"), "{last_event_id:?}");
        assert!(blocks[1..].iter().all(|b| b.retry.is_none()), "{last_event_id:?}");
        for block in blocks.iter().filter(|b| b.id.is_some()) {
            let index = block.id.as_ref().unwrap().parse::<EventId>().unwrap().index;
            assert_eq!(block.data, (index * 10).to_string());
        }
    }
}

#[tokio::test]
async fn subscribers_get_identical_bytes() {
    let hub = hub(8, 16);
    let stop = CancellationToken::new();
    let mut a = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    let mut b = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    for _ in 0..3 {
        hub.publish(|index| index);
    }
    assert_eq!(read_blocks(&mut a, 3).await, read_blocks(&mut b, 3).await);
}

#[tokio::test]
async fn named_events_keep_their_name_live_on_resume_and_as_the_latest() {
    let hub = hub(8, 16);
    let price = EventName::new("price").unwrap();
    let stop = CancellationToken::new();
    let mut live = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    hub.publish_named(&price, |index| index * 10);
    hub.publish(|index| index * 10);
    hub.publish_named(&price, |index| index * 10);
    let epoch = hub.epoch();
    let events = format!(
        "id: {epoch}-1\nevent: price\ndata: 10\n\n\
         id: {epoch}-2\ndata: 20\n\n\
         id: {epoch}-3\nevent: price\ndata: 30\n\n"
    );
    assert_eq!(read_text(&mut live, 3).await, format!("retry: 1234\n{events}"));
    let resumed = hub.subscribe(Some(&format!("{epoch}-0"))).unwrap();
    let mut resumed = Box::pin(resumed.into_stream(options(None, &stop)));
    assert_eq!(read_text(&mut resumed, 3).await, format!("retry: 1234\n{events}"), "replayed");
    let mut latest = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    let last = format!("retry: 1234\nid: {epoch}-3\nevent: price\ndata: 30\n\n");
    assert_eq!(read_text(&mut latest, 1).await, last, "the latest, to a new subscriber");
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_ended_and_others_miss_nothing() {
    let hub = hub(100, 4);
    let stop = CancellationToken::new();
    let mut slow = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    let mut steady = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    for _ in 0..10 {
        hub.publish(|index| index);
        let blocks = read_blocks(&mut steady, 1).await;
        assert_eq!(blocks.len(), 1);
    }
    // `slow` was never read: 10 events behind a backlog of 4. Its stream ends at once...
    assert!(read_blocks(&mut slow, 1).await.is_empty(), "a lagging stream ends");
    // ...and resuming from where it was gets everything from history, in order.
    let resumed = hub.subscribe(Some(&format!("{}-0", hub.epoch()))).unwrap();
    let mut resumed = Box::pin(resumed.into_stream(options(None, &stop)));
    assert_eq!(indices(&read_blocks(&mut resumed, 10).await), (1..=10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn no_ping_while_events_flow_and_one_a_period_after_the_last() {
    let hub = hub(64, 64);
    let stop = CancellationToken::new();
    let mut body = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    // Three heartbeat periods of events, two a period.
    for _ in 0..6 {
        tokio::time::sleep(HEARTBEAT / 2).await;
        let id = hub.publish(|index| index);
        let block = read_blocks(&mut body, 1).await;
        assert_eq!(block[0].id, Some(id.to_string()), "the event, no ping: {block:?}");
    }
    let last = tokio::time::Instant::now();
    let ping = read_blocks(&mut body, 1).await;
    assert_eq!(ping[0].event.as_deref(), Some("ping"));
    assert_eq!(last.elapsed(), HEARTBEAT, "one period after the last event");
}

#[tokio::test(start_paused = true)]
async fn heartbeat_is_a_named_ping_with_the_last_id() {
    let hub = hub(8, 16);
    hub.publish(|index| index);
    let stop = CancellationToken::new();
    let mut body = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    assert_eq!(indices(&read_blocks(&mut body, 1).await), [1]);
    // With the clock paused, the runtime jumps to the heartbeat as soon as all else waits.
    let ping = read_blocks(&mut body, 1).await;
    assert_eq!(
        ping,
        [Block {
            event: Some("ping".into()),
            id: None,
            data: format!("{}-1", hub.epoch()),
            retry: None
        }]
    );
}

#[tokio::test]
async fn limit_counts_replayed_and_live_events_then_closes() {
    let hub = hub(8, 16);
    hub.publish(|index| index);
    hub.publish(|index| index);
    let stop = CancellationToken::new();
    let subscription = hub.subscribe(Some(&format!("{}-0", hub.epoch()))).unwrap();
    let mut body = Box::pin(subscription.into_stream(options(Some(3), &stop)));
    hub.publish(|index| index);
    hub.publish(|index| index);
    let blocks = read_blocks(&mut body, 10).await;
    assert_eq!(indices(&blocks), [1, 2, 3]);
    assert_eq!(blocks.last().unwrap().event.as_deref(), Some("close"));
    assert_eq!(blocks.len(), 4, "nothing after close, and the stream ends");
}

#[tokio::test]
async fn close_reaches_subscribers_and_turns_away_later_ones() {
    let hub = hub(8, 16);
    let stop = CancellationToken::new();
    let mut body = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    hub.publish(|index| index);
    hub.close("that was all");
    let blocks = read_blocks(&mut body, 10).await;
    assert_eq!(indices(&blocks), [1]);
    assert_eq!(
        blocks[1],
        Block { event: Some("close".into()), id: None, data: "that was all".into(), retry: None }
    );
    assert!(hub.is_closed());
    assert!(hub.subscribe(None).is_none());
}

#[tokio::test]
async fn stop_ends_streams_without_close() {
    let hub = hub(8, 16);
    let stop = CancellationToken::new();
    let mut body = Box::pin(hub.subscribe(None).unwrap().into_stream(options(None, &stop)));
    stop.cancel();
    assert!(read_blocks(&mut body, 1).await.is_empty());
}

#[test]
fn latest_is_the_last_published_event() {
    let hub = hub(2, 2);
    assert!(hub.latest().is_none());
    hub.publish(|index| index + 100);
    let id = hub.publish(|index| index + 100);
    let (latest_id, latest) = hub.latest().unwrap();
    assert_eq!((latest_id, *latest), (id, 102));
}

/// The blocks in what `try_next` handed out, as a client would read them.
fn blocks_of(frames: sse_hub::Frames) -> Vec<Block> {
    let text: Vec<u8> = frames.into_iter().flatten().collect();
    std::str::from_utf8(&text).unwrap().split_terminator("\n\n").map(parse_block).collect()
}

#[tokio::test(start_paused = true)]
async fn try_next_hands_out_what_is_ready_without_waiting() {
    let hub = hub(8, 16);
    hub.publish(|index| index);
    let stop = CancellationToken::new();
    let mut delivery = hub.subscribe(None).unwrap().into_delivery(options(Some(3), &stop));
    let TryNext::Frames(latest) = delivery.try_next() else { panic!("the latest event at once") };
    assert_eq!(indices(&blocks_of(latest)), [1]);
    assert!(matches!(delivery.try_next(), TryNext::Empty));

    // Two events published together are both ready.
    hub.publish(|index| index);
    hub.publish(|index| index);
    let TryNext::Frames(second) = delivery.try_next() else { panic!("event 2 is ready") };
    assert_eq!(indices(&blocks_of(second)), [2]);

    // The third event is the limit's last: it comes with `close`, and the delivery is over.
    let TryNext::Frames(third) = delivery.try_next() else { panic!("event 3 is ready") };
    let third = blocks_of(third);
    assert_eq!(indices(&third), [3]);
    assert_eq!(third.last().unwrap().event.as_deref(), Some("close"), "the limit of 3");
    assert!(matches!(delivery.try_next(), TryNext::Finished));
}

#[tokio::test(start_paused = true)]
async fn try_next_pings_when_due_and_ends_at_stop() {
    let hub = hub(8, 16);
    let stop = CancellationToken::new();
    let mut delivery = hub.subscribe(None).unwrap().into_delivery(options(None, &stop));
    assert!(matches!(delivery.try_next(), TryNext::Empty), "nothing published yet");
    let due = delivery.ping_due();
    tokio::time::sleep_until(due - Duration::from_millis(1)).await;
    assert!(matches!(delivery.try_next(), TryNext::Empty), "not silent for a heartbeat yet");
    tokio::time::sleep_until(due).await;
    let TryNext::Frames(ping) = delivery.try_next() else { panic!("a ping once due") };
    assert_eq!(blocks_of(ping)[0].event.as_deref(), Some("ping"));
    assert_eq!(delivery.ping_due(), due + HEARTBEAT, "the next one a period later");
    stop.cancel();
    assert!(matches!(delivery.try_next(), TryNext::Finished));
}

#[tokio::test(start_paused = true)]
async fn a_delivery_ends_on_either_its_own_stop_or_the_servers() {
    let hub = hub(8, 16);
    hub.publish(|index| index);
    for servers in [false, true] {
        let (own, server) = (CancellationToken::new(), CancellationToken::new());
        let delivery = hub.subscribe(None).unwrap().into_delivery(options(None, &own));
        let mut delivery = delivery.end_on(server.clone());
        assert!(delivery.next().await.is_some(), "the latest event");
        let waiting = tokio::spawn(async move { delivery.next().await.is_none() });
        tokio::time::sleep(Duration::from_secs(1)).await;
        match servers {
            true => server.cancel(),
            false => own.cancel(),
        }
        assert!(
            waiting.await.unwrap(),
            "ended by the {} stop",
            if servers { "server's" } else { "own" }
        );
    }
}
