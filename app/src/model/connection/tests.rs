//! The connection's state machine driven through failures, probes and waits.

use super::*;

const RETRY_MAX_MS: f64 = 12_000.0;

/// The generation a probe must be answered with.
fn probed(next: Next) -> u32 {
    let Next::Probe { generation } = next else { panic!("expected a probe, got {next:?}") };
    generation
}

fn open() -> Connection {
    let mut connection = Connection::default();
    connection.opened();
    connection
}

#[test]
fn a_network_error_is_left_to_the_browser() {
    let mut connection = open();
    assert_eq!(connection.errored(true, false, 100.0, RETRY_MAX_MS), Next::Wait);
    assert_eq!(connection.state(), ConnectionState::Reconnecting);
    assert_eq!(connection.status().retry_by, Some(12_100.0));
    connection.opened();
    assert_eq!(connection.status().reconnects, 1);
    assert_eq!(connection.status().retry_by, None);
}

#[test]
fn a_refusal_is_probed_then_retried_with_growing_waits() {
    let mut connection = open();
    let mut next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
    let mut waits = Vec::new();
    for _ in 0..7 {
        let failed = Probe::Failed(Failure::Status(502));
        let Next::ProbeAt { at_ms, generation } =
            connection.probed(probed(next), failed, 0.0, 0.999)
        else {
            panic!("a failed probe schedules the next one");
        };
        assert_eq!(connection.status().retry_by, Some(at_ms));
        assert_eq!(connection.status().failure, Some(Failure::Status(502)));
        waits.push((at_ms / 1000.0).round() as u32);
        next = connection.retry_due(generation);
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(connection.probed(probed(next), Probe::Stream, 0.0, 0.5), Next::Open);
    connection.connecting();
    connection.opened();
    assert_eq!(connection.status().reconnects, 1);
    assert_eq!(connection.status().failure, None);
    // The next failure starts over from the shortest wait.
    let next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
    let failed = Probe::Failed(Failure::Unreachable);
    let Next::ProbeAt { at_ms, .. } = connection.probed(probed(next), failed, 0.0, 0.0) else {
        panic!("a failed probe schedules the next one");
    };
    assert_eq!(at_ms, 500.0);
}

#[test]
fn a_204_ends_the_stream_for_good() {
    let mut connection = open();
    let next = connection.errored(false, false, 0.0, RETRY_MAX_MS);
    assert_eq!(connection.probed(probed(next), Probe::Ended, 0.0, 0.5), Next::Wait);
    assert_eq!(connection.state(), ConnectionState::Closed);
}

#[test]
fn a_retry_overtaken_by_a_pause_or_a_reopen_does_nothing() {
    let mut connection = open();
    let first = probed(connection.errored(false, false, 0.0, RETRY_MAX_MS));
    let failed = Probe::Failed(Failure::NotAStream);
    let Next::ProbeAt { generation, .. } = connection.probed(first, failed, 0.0, 0.5) else {
        panic!("a failed probe schedules the next one");
    };
    let second = probed(connection.retry_due(generation));
    connection.pause();
    assert_eq!(connection.retry_due(generation), Next::Wait);
    assert_eq!(connection.probed(second, Probe::Stream, 0.0, 0.5), Next::Wait, "a late probe");
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
