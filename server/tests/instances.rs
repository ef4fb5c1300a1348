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

/// Redis restarts empty: no instance can prove where the stream's epoch ended, so none
/// continues it. The first back begins a newer epoch, every instance follows it, and each
/// subscriber's stream ends after the old epoch's events it had, consecutive; resumed with
/// its last id, it gets `gap` and then the new epoch's events, the same on every instance.
#[tokio::test]
async fn a_redis_that_restarts_empty_moves_every_instance_to_one_newer_epoch() {
    let mut redis = RedisServer::start();
    let instances: Vec<Instance> = (0..3).map(|_| Instance::start(&redis, FLAGS)).collect();
    let all: Vec<&Instance> = instances.iter().collect();
    let (mut streams, first_seen) = subscribe_to_each(&all).await;
    let old_epoch = epoch_of(health(&instances[0]).await["last_event_id"].as_str().unwrap());

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
    let new_epoch = wait_for_one_epoch(&all, |epoch| epoch > old_epoch).await;
    let mut resumed = Vec::new();
    for ((events, first), instance) in streams.iter_mut().zip(&first_seen).zip(&instances) {
        let last = drain_old_epoch(events, old_epoch, *first, instance).await;
        resumed.push(resume_after_a_gap(instance, &last, new_epoch).await);
    }
    assert_same_payloads(&resumed);
}

/// Waits (bounded) until every instance is `ok` with one leader, all on one epoch that
/// `wanted` accepts, and returns it.
async fn wait_for_one_epoch(instances: &[&Instance], wanted: impl Fn(u64) -> bool) -> u64 {
    let epochs = |states: &[serde_json::Value]| -> Vec<Option<u64>> {
        states.iter().map(|state| state["last_event_id"].as_str().map(epoch_of)).collect()
    };
    wait_for_health(instances, "ok on one wanted epoch, with one leader", |states| {
        let epochs = epochs(states);
        leaders(states) == 1
            && states.iter().all(|state| state["status"] == "ok" && state["redis"] == "ok")
            && epochs.iter().all(|epoch| epoch.is_some_and(&wanted) && *epoch == epochs[0])
    })
    .await;
    epochs(&[health(instances[0]).await])[0].unwrap()
}

/// Reads a stream of the old epoch to its end (the instance moved on): every event is of
/// that epoch, consecutive after `first`, and none is `close`. Returns the last id.
async fn drain_old_epoch(
    events: &mut (impl Stream<Item = Result<Event, impl std::fmt::Debug>> + Unpin),
    old_epoch: u64,
    first: u64,
    instance: &Instance,
) -> String {
    let mut last = format!("{old_epoch}-{first}");
    while let Some(event) = next_event(events).await {
        match event.event.as_str() {
            "message" => {
                let expected = format!("{old_epoch}-{}", id_index(&last) + 1);
                assert_eq!(event.id, expected, "{}", instance.log());
                last = event.id;
            }
            "ping" => {}
            other => panic!("unexpected {other} event: {event:?}\n{}", instance.log()),
        }
    }
    last
}

/// Resumes after `last` (of an old epoch) on `instance`: `gap` into `new_epoch`, then five
/// consecutive events of it.
async fn resume_after_a_gap(instance: &Instance, last: &str, new_epoch: u64) -> Vec<Seen> {
    let (_, mut events) = open_stream(&instance.url("/sse"), &[("Last-Event-ID", last)]).await;
    let gap = next_event(&mut events).await.expect("a gap");
    assert_eq!(gap.event, "gap", "resuming after {last}: {gap:?}");
    assert_eq!(epoch_of(&gap.data), new_epoch, "the gap names the new epoch's first id");
    let seen = next_data_events(&mut events, 5).await;
    let got = indices(&seen);
    assert!(seen.iter().all(|(id, _)| epoch_of(id) == new_epoch), "{seen:?}");
    assert_eq!(got, (got[0]..).take(5).collect::<Vec<_>>(), "consecutive in the new epoch");
    seen
}

/// Where several instances sent the same id, they sent the same payload.
fn assert_same_payloads(seen: &[Vec<Seen>]) {
    let mut payloads = std::collections::HashMap::new();
    for (id, data) in seen.iter().flatten() {
        let first = payloads.entry(id.clone()).or_insert_with(|| data.clone());
        assert_eq!(first, data, "two payloads for {id}");
    }
}

fn id_index(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

fn epoch_of(id: &str) -> u64 {
    id.split_once('-').unwrap().0.parse().unwrap()
}

/// Redis restarts empty while the instances that carry the stream are stalled, and a new
/// instance reaches it first: it begins a newer epoch. The older ones, back, follow it and
/// never put theirs back (their log is gone: continuing it could issue an id twice, and
/// putting it back would undo the newcomer's events): one epoch, the newcomer's, `ok`
/// everywhere, one leader, and the older ones' subscribers get `gap` and then its events.
#[tokio::test]
async fn older_instances_follow_the_epoch_a_newcomer_began_on_an_emptied_redis() {
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
    let new_epoch = epoch_of(health(&newcomer).await["last_event_id"].as_str().unwrap());
    assert!(new_epoch > old_epoch, "a new epoch is newer than the one before");
    for instance in &old {
        instance.resume();
    }

    let all = [&old[0], &old[1], &newcomer];
    assert_eq!(wait_for_one_epoch(&all, |epoch| epoch == new_epoch).await, new_epoch);
    let mut resumed = Vec::new();
    for ((events, first), instance) in streams.iter_mut().zip(&first_seen).zip(&old) {
        let last = drain_old_epoch(events, old_epoch, *first, instance).await;
        resumed.push(resume_after_a_gap(instance, &last, new_epoch).await);
    }
    let (_, mut on_newcomer) = open_stream(&newcomer.url("/sse"), &[]).await;
    resumed.push(next_data_events(&mut on_newcomer, 5).await);
    assert_same_payloads(&resumed);
}

/// The lease is Redis's word, not the leader's clock: once another holds it (here the test
/// takes it, as a leader that Redis lost the lease of would find), no instance appends,
/// however recently the old leader renewed it. When it expires, an instance takes over and
/// the stream goes on from the next index.
#[tokio::test]
async fn appends_are_fenced_by_the_lease_in_redis() {
    let flags = ["--interval-ms", "100", "--lease-ms", "3000", "--keepalive-secs", "1"];
    let redis = RedisServer::start();
    let instances = [Instance::start(&redis, &flags), Instance::start(&redis, &flags)];
    let all = [&instances[0], &instances[1]];
    wait_for_health(&all, "a leader publishing", |states| {
        leaders(states) == 1 && states.iter().all(|state| state["last_event_id"].is_string())
    })
    .await;
    let (_, mut events) = open_stream(&instances[0].url("/sse"), &[]).await;
    let before = next_data(&mut events).await;

    // Atomically: the lease becomes another's for 4 s, and the log's last index is read.
    let take_lease = "redis.call('SET', KEYS[1], 'someone-else/0', 'PX', 4000) \
                      return redis.call('HGET', KEYS[2], 'last')";
    let taken_at: u64 = redis
        .cli(&["EVAL", take_lease, "2", "livenames:leader", "livenames:epoch"])
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let last: u64 = redis.cli(&["HGET", "livenames:epoch", "last"]).parse().unwrap();
    assert_eq!(last, taken_at, "an append got past a lease that was not the leader's");
    wait_for_health(&all, "no leader while another holds the lease", |states| leaders(states) == 0)
        .await;

    let mut expected = index_of(&before) + 1;
    while expected <= taken_at + 5 {
        assert_eq!(index_of(&next_data(&mut events).await), expected, "no index missing or twice");
        expected += 1;
    }
    wait_for_health(&all, "one leader again", |states| leaders(states) == 1).await;
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
    let info = redis.cli(&["INFO", "server"]);
    let run = info.lines().find_map(|line| line.strip_prefix("run_id:")).unwrap().trim();
    redis.cli(&["HSET", "livenames:epoch", "epoch", "1700000000000", "last", "2", "run", run]);
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
