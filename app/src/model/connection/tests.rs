//! The connection's state machine driven through failures, probes and waits.

use super::*;

const RETRY_MAX_MS: f64 = 12_000.0;

/// The generation a probe must be answered with.
fn probed(next: Next) -> u32 {
    let Next::Probe { generation } = next else { panic!("expected a probe, got {next:?}") };
    generation
}

/// The wait a failed probe scheduled, in ms, and the generation to call back with.
fn scheduled(next: Next, now: f64) -> (f64, u32) {
    let Next::ProbeAt { at_ms, generation } = next else { panic!("expected a wait, got {next:?}") };
    (at_ms - now, generation)
}

fn open() -> Connection {
    let mut connection = Connection::new(42);
    connection.opened();
    connection
}

#[test]
fn a_network_error_is_left_to_the_browser() {
    let mut connection = open();
    assert_eq!(connection.errored(true, false, 100.0, RETRY_MAX_MS), Next::Wait);
    assert_eq!(connection.state(), ConnectionState::Reconnecting);
    assert_eq!(connection.status().retry.map(|retry| retry.by), Some(12_100.0));
    connection.opened();
    assert_eq!(connection.status().reconnects, 1);
    assert_eq!(connection.status().retry.map(|retry| retry.by), None);
}

#[test]
fn the_countdown_never_shows_more_than_the_wait() {
    let mut connection = open();
    connection.errored(true, false, 100_000.0, RETRY_MAX_MS);
    let retry = connection.status().retry.expect("a wait");
    // The badge's clock ticks once a second, so the time it reads can be up to a second
    // older than the wait: still at most 12 s, never 13.
    assert_eq!(retry.seconds_left(99_100.0), Some(12));
    assert_eq!(retry.seconds_left(100_000.0), Some(12));
    assert_eq!(retry.seconds_left(100_001.0), Some(12));
    assert_eq!(retry.seconds_left(101_000.0), Some(11));
    assert_eq!(retry.seconds_left(111_500.0), Some(1));
    assert_eq!(retry.seconds_left(112_000.0), None);
}

#[test]
fn a_refusal_is_probed_then_retried_with_growing_jittered_waits() {
    let mut connection = open();
    let mut next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
    let mut waits = Vec::new();
    for _ in 0..7 {
        let failed = Probe::Failed(Failure::Status(502));
        let (wait, generation) = scheduled(connection.probed(probed(next), failed, 1e6), 1e6);
        assert_eq!(connection.status().retry.map(|retry| retry.by), Some(1e6 + wait));
        assert_eq!(connection.status().failure, Some(Failure::Status(502)));
        waits.push(wait);
        next = connection.retry_due(generation);
    }
    let ceilings = [1_000.0, 2_000.0, 4_000.0, 8_000.0, 16_000.0, 30_000.0, 30_000.0];
    for (wait, ceiling) in waits.iter().zip(ceilings) {
        assert!((ceiling / 2.0..=ceiling).contains(wait), "{waits:?}");
    }
    assert_eq!(connection.probed(probed(next), Probe::Stream, 0.0), Next::Open);
    connection.connecting();
    connection.opened();
    assert_eq!(connection.status().reconnects, 1);
    assert_eq!(connection.status().failure, None);
    // The next failure starts over: a probe at once, then the shortest wait.
    let next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
    let failed = Probe::Failed(Failure::Unreachable);
    let (wait, _) = scheduled(connection.probed(probed(next), failed, 0.0), 0.0);
    assert!((500.0..=1_000.0).contains(&wait), "{wait}");
}

#[test]
fn a_stream_that_probes_fine_but_keeps_failing_is_not_retried_in_a_loop() {
    let mut connection = open();
    let mut next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
    assert_eq!(connection.probed(probed(next), Probe::Stream, 0.0), Next::Open);
    for ceiling in [1_000.0, 2_000.0, 4_000.0] {
        connection.connecting();
        let (wait, generation) =
            scheduled(connection.errored(false, false, 0.0, RETRY_MAX_MS), 0.0);
        assert!((ceiling / 2.0..=ceiling).contains(&wait), "{wait} for {ceiling}");
        next = connection.retry_due(generation);
        assert_eq!(connection.probed(probed(next), Probe::Stream, 0.0), Next::Open);
    }
}

#[test]
fn tabs_seeded_apart_wait_apart() {
    let wait = |seed| {
        let mut connection = Connection::new(seed);
        let next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
        scheduled(connection.probed(probed(next), Probe::Failed(Failure::Unreachable), 0.0), 0.0).0
    };
    let waits: Vec<f64> = (1..=20).map(wait).collect();
    let distinct = waits.iter().map(|wait| *wait as u64).collect::<std::collections::BTreeSet<_>>();
    assert!(distinct.len() > 15, "{waits:?}");
}

#[test]
fn a_204_ends_the_stream_for_good() {
    let mut connection = open();
    let next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
    assert_eq!(connection.probed(probed(next), Probe::Ended, 0.0), Next::Wait);
    assert_eq!(connection.state(), ConnectionState::Closed);
}

#[test]
fn a_retry_overtaken_by_a_pause_or_a_reopen_does_nothing() {
    let mut connection = open();
    let first = probed(connection.errored(false, false, 0.0, RETRY_MAX_MS));
    let failed = Probe::Failed(Failure::NotAStream);
    let (_, generation) = scheduled(connection.probed(first, failed, 0.0), 0.0);
    let second = probed(connection.retry_due(generation));
    connection.pause();
    assert_eq!(connection.retry_due(generation), Next::Wait);
    assert_eq!(connection.probed(second, Probe::Stream, 0.0), Next::Wait, "a late probe");
    assert_eq!(connection.state(), ConnectionState::Paused);
    assert_eq!(connection.status().failure, None);
}

#[test]
fn offline_then_online_follows_what_the_source_did() {
    for (source, state, next) in [
        (SourceState::Open, ConnectionState::Open, Next::Wait),
        (SourceState::Connecting, ConnectionState::Reconnecting, Next::Wait),
        (SourceState::Closed, ConnectionState::Reconnecting, Next::Probe { generation: 1 }),
    ] {
        let mut connection = open();
        connection.went_offline();
        assert_eq!(connection.state(), ConnectionState::Offline);
        assert_eq!(connection.came_online(source, 0.0, RETRY_MAX_MS), next, "{source:?}");
        assert_eq!(connection.state(), state, "{source:?}");
    }
    let mut paused = open();
    paused.pause();
    paused.went_offline();
    assert_eq!(paused.state(), ConnectionState::Paused, "a paused stream stays paused");
}

#[test]
fn backoff_doubles_with_jitter_and_is_capped() {
    assert_eq!(backoff_ms(0, 0.0), 500.0);
    assert_eq!(backoff_ms(0, 1.0), 1_000.0);
    assert_eq!(backoff_ms(3, 0.5), 6_000.0);
    assert_eq!(backoff_ms(40, 1.0), MAX_BACKOFF_MS);
    assert_eq!(backoff_ms(40, 0.0), MAX_BACKOFF_MS / 2.0);
}
