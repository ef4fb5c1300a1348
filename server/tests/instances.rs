//! Several instances sharing one stream through a real Redis (`--redis-url`): identical
//! events everywhere, a leader that crashes, a browser that moves, Redis restarting.

#[path = "common/cluster.rs"]
mod cluster;
// Only its SSE client is used here, not its in-process server.
#[allow(dead_code)]
mod common;

use cluster::{Instance, RedisServer};
use common::{PATIENCE, get, next_event, open_stream};
use eventsource_stream::Event;
use futures::Stream;
use std::time::{Duration, Instant};

/// Fast enough that tests see many events, slow enough for two busy cores.
const FLAGS: &[&str] = &["--interval-ms", "100", "--lease-ms", "1000", "--keepalive-secs", "1"];

/// `(id, data)` of an event, what must be identical on every instance.
type Seen = (String, String);

fn index_of(event: &Event) -> u64 {
    event.id.rsplit_once('-').unwrap().1.parse().unwrap()
}

/// The next data event, skipping heartbeats.
async fn next_data(
    events: &mut (impl Stream<Item = Result<Event, impl std::fmt::Debug>> + Unpin),
) -> Event {
    loop {
        let event = next_event(events).await.expect("the stream stays open");
        if event.event == "message" {
            return event;
        }
    }
}

/// The next `count` data events as `(id, data)`.
async fn next_data_events(
    events: &mut (impl Stream<Item = Result<Event, impl std::fmt::Debug>> + Unpin),
    count: usize,
) -> Vec<Seen> {
    let mut seen = Vec::with_capacity(count);
    for _ in 0..count {
        let event = next_data(events).await;
        seen.push((event.id, event.data));
    }
    seen
}

/// A stream on each instance, and the index of the first data event each sent.
async fn subscribe_to_each(
    instances: &[&Instance],
) -> (Vec<impl Stream<Item = Result<Event, impl std::fmt::Debug + use<>>> + Unpin + use<>>, Vec<u64>)
{
    let mut streams = Vec::new();
    let mut first_seen = Vec::new();
    for instance in instances {
        let (_, mut events) = open_stream(&instance.url("/sse"), &[]).await;
        first_seen.push(index_of(&next_data(&mut events).await));
        streams.push(events);
    }
    (streams, first_seen)
}

fn indices(seen: &[Seen]) -> Vec<u64> {
    seen.iter().map(|(id, _)| id.rsplit_once('-').unwrap().1.parse().unwrap()).collect()
}

async fn health(instance: &Instance) -> serde_json::Value {
    let response = get(&instance.url("/healthz"), &[]).await;
    assert_eq!(response.status(), 200);
    serde_json::from_str(&response.text().await.unwrap()).expect("JSON")
}

/// Waits (bounded) until `check` holds for the instances' `/healthz`.
async fn wait_for_health(
    instances: &[&Instance],
    what: &str,
    check: impl Fn(&[serde_json::Value]) -> bool,
) {
    let deadline = Instant::now() + PATIENCE * 2;
    loop {
        let mut states = Vec::new();
        for instance in instances {
            states.push(health(instance).await);
        }
        if check(&states) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {states:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn leaders(states: &[serde_json::Value]) -> usize {
    states.iter().filter(|state| state["leader"] == true).count()
}

#[tokio::test]
async fn every_instance_serves_the_same_ids_and_payloads() {
    let redis = RedisServer::start();
    let instances: Vec<Instance> = (0..3).map(|_| Instance::start(&redis, FLAGS)).collect();
    let (_, mut first) = open_stream(&instances[0].url("/sse"), &[]).await;
    let start = next_data(&mut first).await;
    let mut streams = vec![first];
    for instance in &instances[1..] {
        let (_, events) = open_stream(&instance.url("/sse"), &[("Last-Event-ID", &start.id)]).await;
        streams.push(events);
    }
    let mut seen = Vec::new();
    for events in &mut streams {
        seen.push(next_data_events(events, 8).await);
    }
    let expected: Vec<u64> = (index_of(&start) + 1..).take(8).collect();
    assert_eq!(indices(&seen[0]), expected, "consecutive, from the resume point");
    assert_eq!(seen[1], seen[0], "instance 1 serves what instance 0 does");
    assert_eq!(seen[2], seen[0], "instance 2 serves what instance 0 does");
    let all: Vec<&Instance> = instances.iter().collect();
    wait_for_health(&all, "exactly one leader", |states| leaders(states) == 1).await;
    for state in [health(&instances[0]).await, health(&instances[2]).await] {
        assert_eq!((&state["status"], &state["redis"]), (&"ok".into(), &"ok".into()));
    }
}

#[tokio::test]
async fn a_crashed_leader_is_replaced_within_twice_the_lease_without_a_gap() {
    // An interval as long as the lease: the new leader must keep the pace, not wait a whole
    // interval after taking over.
    let lease = Duration::from_millis(1500);
    let flags = ["--interval-ms", "1500", "--lease-ms", "1500", "--keepalive-secs", "1"];
    let redis = RedisServer::start();
    let mut instances: Vec<Instance> = (0..3).map(|_| Instance::start(&redis, &flags)).collect();
    let all: Vec<&Instance> = instances.iter().collect();
    wait_for_health(&all, "a leader", |states| leaders(states) == 1).await;
    let mut leader = 0;
    for (position, instance) in instances.iter().enumerate() {
        if health(instance).await["leader"] == true {
            leader = position;
        }
    }
    let follower = (leader + 1) % 3;
    let (_, mut events) = open_stream(&instances[follower].url("/sse"), &[]).await;
    let before = next_data_events(&mut events, 2).await;

    instances[leader].kill();
    let killed_at = Instant::now();
    let last_before = *indices(&before).last().unwrap();
    // The follower holds every event the dead leader wrote (one still in flight to it would
    // only make this check easier to pass): the next one is the new leader's.
    let latest = health(&instances[follower]).await["last_event_id"].as_str().unwrap().to_string();
    let new_leaders_first = id_index(&latest) + 1;
    let mut after = Vec::new();
    let mut taken_over = None;
    while after.len() < 3 || taken_over.is_none() {
        let event = next_data(&mut events).await;
        if taken_over.is_none() && index_of(&event) >= new_leaders_first {
            taken_over = Some(killed_at.elapsed());
        }
        after.push((event.id, event.data));
    }
    let expected: Vec<u64> = (last_before + 1..).take(after.len()).collect();
    assert_eq!(indices(&after), expected, "no index twice, none missing, across the handover");
    let taken_over = taken_over.unwrap();
    assert!(taken_over < lease * 2, "the stream went on {taken_over:?} after the crash");
    let survivors: Vec<&Instance> =
        instances.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, i)| i).collect();
    wait_for_health(&survivors, "one new leader", |states| leaders(states) == 1).await;
}

#[tokio::test]
async fn a_leader_that_is_stopped_hands_over_at_once() {
    // A long lease: a takeover by expiry would need more than 6 s after the stop.
    let flags = ["--interval-ms", "100", "--lease-ms", "10000", "--keepalive-secs", "1"];
    let redis = RedisServer::start();
    let mut instances = [Instance::start(&redis, &flags), Instance::start(&redis, &flags)];
    wait_for_health(&[&instances[0], &instances[1]], "a leader", |states| leaders(states) == 1)
        .await;
    let leader = if health(&instances[0]).await["leader"] == true { 0 } else { 1 };
    let (_, mut events) = open_stream(&instances[1 - leader].url("/sse"), &[]).await;
    let before = next_data(&mut events).await;

    instances[leader].terminate();
    let stopped_at = Instant::now();
    let follower = &instances[1 - leader];
    let latest = health(follower).await["last_event_id"].as_str().unwrap().to_string();
    let mut after = Vec::new();
    while after.last().is_none_or(|(id, _): &Seen| id_index(id) < id_index(&latest) + 2) {
        let event = next_data(&mut events).await;
        after.push((event.id, event.data));
    }
    let elapsed = stopped_at.elapsed();
    let expected: Vec<u64> = (index_of(&before) + 1..).take(after.len()).collect();
    assert_eq!(indices(&after), expected, "no index twice, none missing");
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}: the lease was not released");
    assert_eq!(health(follower).await["leader"], true);
}

#[tokio::test]
async fn a_subscriber_resumes_on_another_instance_without_loss() {
    let redis = RedisServer::start();
    let a = Instance::start(&redis, FLAGS);
    let b = Instance::start(&redis, FLAGS);
    wait_for_health(&[&a, &b], "a leader", |states| leaders(states) == 1).await;
    // Started once a leader holds the lease, so it only reads; it keeps 2 events itself, so
    // older resumes must come from Redis.
    let c = Instance::start(&redis, &[FLAGS, &["--history", "2"]].concat());

    let (_, mut on_a) = open_stream(&a.url("/sse"), &[]).await;
    let seen_on_a = next_data_events(&mut on_a, 3).await;
    drop(on_a);
    let last_id = &seen_on_a.last().unwrap().0;
    tokio::time::sleep(Duration::from_millis(800)).await; // events go on meanwhile

    let mut resumed = Vec::new();
    for instance in [&b, &c] {
        let (_, mut events) =
            open_stream(&instance.url("/sse"), &[("Last-Event-ID", last_id)]).await;
        resumed.push(next_data_events(&mut events, 12).await);
    }
    let expected: Vec<u64> = (indices(&seen_on_a)[2] + 1..).take(12).collect();
    assert_eq!(indices(&resumed[0]), expected, "resumed on b right after the last id seen on a");
    assert_eq!(resumed[1], resumed[0], "c, holding 2 events, replays the rest from Redis");
    assert_eq!(health(&c).await["leader"], false, "c only reads: {}", c.log());
}

#[tokio::test]
async fn every_instance_recovers_when_redis_restarts() {
    let mut redis = RedisServer::start();
    let instances: Vec<Instance> = (0..3).map(|_| Instance::start(&redis, FLAGS)).collect();
    let all: Vec<&Instance> = instances.iter().collect();
    let (mut streams, last_seen) = subscribe_to_each(&all).await;

    redis.kill();
    wait_for_health(&all, "degraded", |states| {
        states.iter().all(|state| state["status"] == "degraded" && state["redis"] == "degraded")
    })
    .await;
    for events in &mut streams {
        let event = next_event(events).await.expect("subscribers stay connected without Redis");
        assert!(["ping", "message"].contains(&event.event.as_str()), "{event:?}");
    }

    redis.restart();
    wait_for_health(&all, "ok again", |states| states.iter().all(|state| state["redis"] == "ok"))
        .await;
    let mut after = Vec::new();
    for (events, last) in streams.iter_mut().zip(&last_seen) {
        let seen = next_data_events(events, 20).await;
        let got = indices(&seen);
        let expected: Vec<u64> = (last + 1..).take(20).collect();
        assert_eq!(got, expected, "no index twice, none missing, across the restart");
        after.push(seen);
    }
    // The streams started at different events; from the latest start on they must agree.
    let common_from = *last_seen.iter().max().unwrap();
    let tails: Vec<Vec<Seen>> = after
        .iter()
        .map(|seen| {
            seen.iter().filter(|(id, _)| id_index(id) > common_from).take(10).cloned().collect()
        })
        .collect();
    assert_eq!(tails[1], tails[0]);
    assert_eq!(tails[2], tails[0]);
}

fn id_index(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

fn epoch_of(id: &str) -> u64 {
    id.split_once('-').unwrap().0.parse().unwrap()
}

/// The latest index on `instance`, from `/healthz`; 0 before any event.
async fn latest_index(instance: &Instance) -> u64 {
    health(instance).await["last_event_id"].as_str().map_or(0, id_index)
}

/// Redis restarts empty while the instances that carry the stream are stalled, and a new
/// instance reaches it first: it begins a newer epoch. Once the older ones are back, the
/// fleet must end on one stream without a restart: the older epoch (their subscribers hold
/// its ids), every instance `ok`, one leader, the same events everywhere, and no break in
/// what the older ones' subscribers receive.
#[tokio::test]
async fn a_new_instance_on_an_emptied_redis_does_not_split_the_fleet() {
    let mut redis = RedisServer::start();
    let old = [Instance::start(&redis, FLAGS), Instance::start(&redis, FLAGS)];
    let (mut streams, first_seen) = subscribe_to_each(&[&old[0], &old[1]]).await;
    let old_epoch = epoch_of(health(&old[0]).await["last_event_id"].as_str().unwrap());

    for instance in &old {
        instance.pause();
    }
    redis.restart();
    let newcomer = Instance::start(&redis, FLAGS);
    wait_for_health(&[&newcomer], "publishing in an epoch of its own", |states| {
        states[0]["last_event_id"].as_str().is_some_and(|id| epoch_of(id) != old_epoch)
    })
    .await;
    for instance in &old {
        instance.resume();
    }

    let all = [&old[0], &old[1], &newcomer];
    wait_for_health(&all, "ok, on the older epoch, with one leader", |states| {
        leaders(states) == 1
            && states.iter().all(|state| {
                state["status"] == "ok"
                    && state["redis"] == "ok"
                    && state["last_event_id"].as_str().is_some_and(|id| epoch_of(id) == old_epoch)
            })
    })
    .await;
    let healed_at = latest_index(&newcomer).await;
    wait_for_health(&all, "publishing on", |states| {
        states.iter().all(|state| {
            state["last_event_id"].as_str().is_some_and(|id| id_index(id) >= healed_at + 3)
        })
    })
    .await;

    // The older instances' subscribers: every index once, in order, across it all.
    for ((events, first), instance) in streams.iter_mut().zip(&first_seen).zip(&old) {
        let mut expected = first + 1;
        while expected <= healed_at + 3 {
            let event = next_data(events).await;
            let got = (epoch_of(&event.id), index_of(&event));
            assert_eq!(got, (old_epoch, expected), "{}", instance.log());
            expected += 1;
        }
    }
    // And every instance serves the same events from here on.
    let resume_from = format!("{old_epoch}-{}", healed_at + 2);
    let mut seen = Vec::new();
    for instance in all {
        let header = [("Last-Event-ID", resume_from.as_str())];
        let (_, mut events) = open_stream(&instance.url("/sse"), &header).await;
        seen.push(next_data_events(&mut events, 5).await);
    }
    let expected: Vec<u64> = (healed_at + 3..).take(5).collect();
    assert_eq!(indices(&seen[0]), expected, "resumed right after {resume_from}");
    assert_eq!(seen[1], seen[0], "the other older instance serves the same");
    assert_eq!(seen[2], seen[0], "the newcomer serves the same: {}", newcomer.log());
}

#[tokio::test]
async fn max_events_ends_the_shared_stream_on_every_instance() {
    let redis = RedisServer::start();
    let flags = ["--interval-ms", "300", "--lease-ms", "1000", "--max-events", "5"];
    let instances = [Instance::start(&redis, &flags), Instance::start(&redis, &flags)];
    let mut streams = Vec::new();
    for instance in &instances {
        streams.push(open_stream(&instance.url("/sse"), &[]).await.1);
    }
    for (instance, mut events) in instances.iter().zip(streams) {
        let mut last = None;
        loop {
            let event = next_event(&mut events).await.expect("close ends the stream");
            match event.event.as_str() {
                "message" => last = Some(index_of(&event)),
                "close" => break,
                _ => {}
            }
        }
        assert_eq!(last, Some(5), "the last event is the 5th");
        assert!(next_event(&mut events).await.is_none(), "nothing after close");
        let after = get(&instance.url("/sse"), &[]).await;
        assert_eq!(after.status(), 204, "the stream is over for new subscribers too");
    }
}

#[tokio::test]
async fn an_entry_that_is_not_an_event_is_skipped_once_and_the_stream_goes_on() {
    let redis = RedisServer::start();
    redis.cli(&["SET", "livenames:epoch", "1700000000000"]);
    redis.cli(&["XADD", "livenames:events", "1-0", "data", r#"{"list":[],"info":"x","index":1}"#]);
    redis.cli(&["XADD", "livenames:events", "2-0", "data", "not an event"]);
    let instance = Instance::start(&redis, FLAGS);
    let (_, mut events) = open_stream(&instance.url("/sse"), &[]).await;
    let mut event = next_data(&mut events).await;
    while index_of(&event) < 5 {
        event = next_data(&mut events).await;
    }
    assert!(event.id.starts_with("1700000000000-"), "the epoch in Redis is kept: {}", event.id);
    let log = instance.log();
    assert_eq!(log.matches("skipping a log entry").count(), 1, "{log}");
}

#[tokio::test]
async fn every_instance_renders_the_page_with_the_shared_latest_event() {
    // One event only, so the latest cannot move between reading it and the page.
    let flags = ["--interval-ms", "2000", "--lease-ms", "1000", "--max-events", "1"];
    let redis = RedisServer::start();
    let instances = [Instance::start(&redis, &flags), Instance::start(&redis, &flags)];
    let (_, mut events) = open_stream(&instances[0].url("/sse"), &[]).await;
    let latest = next_data(&mut events).await;
    let payload: app::event::NamesEvent = serde_json::from_str(&latest.data).unwrap();
    let all: Vec<&Instance> = instances.iter().collect();
    wait_for_health(&all, "at the event", |states| {
        states.iter().all(|state| state["last_event_id"] == latest.id.as_str())
    })
    .await;
    for instance in &instances {
        let html = get(&instance.url("/"), &[]).await.text().await.unwrap();
        assert!(html.contains(&format!(r#"data-id="{}""#, latest.id)), "rendered from the latest");
        for entry in &payload.list {
            let cell = format!("<td>{}</td>", entry.name);
            assert!(html.contains(&cell), "the rendered table lacks {cell}");
        }
    }
}
