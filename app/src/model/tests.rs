//! The whole tab model driven as the glue drives it: connections, probes, leaders and
//! followers.

use super::feed::tests::{data, id, log_of};
use super::probe::{Failure, Probe};
use super::*;
use proptest::prelude::*;

const RETRY_MAX_MS: f64 = 12_000.0;

fn posts(commands: &[Command]) -> Vec<TabMessage> {
    let post = |command: &Command| match command {
        Command::Post(message) => Some(message.clone()),
        _ => None,
    };
    commands.iter().filter_map(post).collect()
}

fn probe_generation(commands: &[Command]) -> u32 {
    let probe = |command: &Command| match command {
        Command::Probe { generation } => Some(*generation),
        _ => None,
    };
    commands.iter().find_map(probe).expect("a probe")
}

/// A leader that has shown events `indices` from its own connection.
fn leader_with(indices: &[u64]) -> Live {
    let mut leader = Live::new(None, RETRY_MAX_MS, 7);
    leader.joined(1);
    assert!(leader.lead_granted(0.0).0);
    leader.source(SourceEvent::Opened, 0.0);
    for &index in indices {
        leader.source(SourceEvent::Item(data(index)), 0.0);
    }
    leader
}

#[test]
fn a_solo_tab_opens_after_the_rendered_event() {
    let Item::Data(shown) = data(4) else { unreachable!() };
    let rendered = RenderedEvent { id: shown.id, event: shown.event };
    let mut live = Live::new(Some(rendered), RETRY_MAX_MS, 7);
    assert_eq!(live.alone(0.0), [Command::Open(Some(id(4)))]);
    assert_eq!(live.connection.state(), ConnectionState::Connecting);
}

#[test]
fn a_leader_shares_what_it_receives_and_every_change_of_state() {
    let mut leader = leader_with(&[]);
    let sent = leader.source(SourceEvent::Item(data(1)), 5.0);
    assert_eq!(posts(&sent), [TabMessage::Item(data(1))]);
    let sent = leader.source(SourceEvent::Errored { browser_retries: true, offline: false }, 5.0);
    let [TabMessage::Status(status)] = posts(&sent)[..] else { panic!("{sent:?}") };
    assert_eq!(status.state, ConnectionState::Reconnecting);
    assert!(posts(&leader.source(SourceEvent::Ping, 6.0)).is_empty(), "a ping changes nothing");
}

#[test]
fn a_refused_leader_backs_off_without_letting_a_follower_connect() {
    let mut leader = leader_with(&[1]);
    let mut follower = Live::new(None, RETRY_MAX_MS, 7);
    follower.joined(2);
    let sent = leader.source(SourceEvent::Errored { browser_retries: false, offline: false }, 0.0);
    let generation = probe_generation(&sent);
    assert!(sent.contains(&Command::Close));
    let sent = leader.probed(generation, Probe::Failed(Failure::Status(502)), 0.0);
    let [Command::ProbeAt { generation, .. }, Command::Post(status)] = &sent[..] else {
        panic!("{sent:?}");
    };
    let reaction = follower.tab_message(status.clone());
    let connects = |command: &Command| matches!(command, Command::Open(_) | Command::Probe { .. });
    assert!(!reaction.iter().any(connects), "the follower opens nothing: {reaction:?}");
    assert_eq!(follower.connection.status().failure, Some(Failure::Status(502)));
    assert_eq!(follower.connection.state(), ConnectionState::Reconnecting);
    let generation = probe_generation(&leader.retry_due(*generation, 750.0));
    let sent = leader.probed(generation, Probe::Stream, 800.0);
    assert_eq!(sent[0], Command::Open(Some(id(1))), "reopens after the last event shown");
}

#[test]
fn the_close_event_ends_the_stream_for_good() {
    let mut leader = leader_with(&[1]);
    let sent = leader.source(SourceEvent::Closed, 0.0);
    assert_eq!(sent[0], Command::Close);
    assert_eq!(leader.connection.state(), ConnectionState::ClosedByServer);
    assert!(leader.check_silence(1e9, 10.0).is_empty(), "a closed stream is not watched");
}

#[test]
fn a_silent_link_is_reopened_from_the_last_id() {
    let mut live = Live::new(None, RETRY_MAX_MS, 7);
    live.alone(0.0);
    live.source(SourceEvent::Opened, 0.0);
    live.source(SourceEvent::Item(data(3)), 100.0);
    assert!(!live.is_silent(1_000.0, 1_000.0));
    assert!(live.check_silence(1_000.0, 1_000.0).is_empty());
    assert!(live.is_silent(1_101.0, 1_000.0));
    assert_eq!(live.check_silence(1_101.0, 1_000.0), [Command::Open(Some(id(3)))]);
    assert!(!live.is_silent(1_101.0, 1_000.0), "reopening counts as a sign of life");
    assert_eq!(live.connection.status().silent_reopens, 1);
}

#[test]
fn a_paused_tab_holds_events_and_shows_them_in_order_after_the_welcome() {
    let mut leader = leader_with(&[1, 2]);
    let mut follower = Live::new(None, RETRY_MAX_MS, 7);
    let hello = posts(&follower.joined(2));
    follower.tab_message(TabMessage::Item(data(2)));
    let answer = posts(&leader.tab_message(hello[0].clone()));
    answer.into_iter().for_each(|message| _ = follower.tab_message(message));
    assert_eq!(log_of(&follower.feed), [1, 2]);

    follower.pause();
    (3..=5).for_each(|index| _ = follower.tab_message(TabMessage::Item(data(index))));
    assert_eq!(log_of(&follower.feed), [1, 2], "nothing shown while paused");
    let hello = posts(&follower.resume(0.0));
    assert_eq!(hello, [TabMessage::Hello { tab: 2, after: Some(id(2)) }]);
    (3..=5).for_each(|index| _ = leader.source(SourceEvent::Item(data(index)), 0.0));
    let answer = posts(&leader.tab_message(hello[0].clone()));
    answer.into_iter().for_each(|message| _ = follower.tab_message(message));
    assert_eq!(log_of(&follower.feed), [1, 2, 3, 4, 5]);
}

#[test]
fn a_paused_leader_hands_over_and_does_not_take_the_lead_back_while_paused() {
    let mut leader = leader_with(&[1]);
    assert_eq!(leader.pause(), [Command::Close, Command::ReleaseLead]);
    assert_eq!(leader.role, Role::Follower);
    assert!(!leader.lead_granted(0.0).0);
}

/// Events with ids `indices` (increasing; a step over 1 is a gap the server made).
fn ids_strategy() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![4 => Just(1_u64), 1 => 2_u64..5], 2..16).prop_map(|steps| {
        steps
            .iter()
            .scan(0, |index, step| {
                *index += step;
                Some(*index)
            })
            .collect()
    })
}

proptest! {
    /// A follower that joins after seeing `known` of the leader's events gets the replay and
    /// the live events in any interleaving (live ones may overtake the replay, or start
    /// before the Hello reached the leader): it ends up with the leader's events, in order,
    /// each once, and a gap marked wherever ids skip.
    #[test]
    fn a_follower_catches_up_from_any_interleaving(
        indices in ids_strategy(),
        cut in any::<prop::sample::Index>(),
        hello_at in any::<prop::sample::Index>(),
        live_from in any::<prop::sample::Index>(),
        order in prop::collection::vec(any::<bool>(), 40),
    ) {
        let known = cut.index(indices.len());
        // The leader has shown up to `answered` when the Hello reaches it; its live
        // broadcasts the follower sees start at `first_live` (at most one past `answered`).
        let answered = known + hello_at.index(indices.len() - known);
        let first_live = known + live_from.index(answered - known + 1);

        let mut leader = leader_with(&indices[..=answered]);
        let mut follower = Live::new(None, RETRY_MAX_MS, 7);
        follower.joined(2);
        indices[..known].iter().for_each(|&index| follower.feed.apply(data(index)));
        let hello = follower.sync.hello(follower.feed.resume_id());
        let replay = posts(&leader.tab_message(hello));
        let rest: Vec<_> = indices[answered + 1..].iter().map(|&index| {
            posts(&leader.source(SourceEvent::Item(data(index)), 0.0)).remove(0)
        }).collect();
        let live: Vec<_> = indices[first_live..=answered].iter()
            .map(|&index| TabMessage::Item(data(index))).chain(rest).collect();

        // Merge the two queues in an order drawn by `order`, each keeping its own order.
        let (mut replay, mut live) = (replay.into_iter().peekable(), live.into_iter().peekable());
        let mut draws = order.into_iter().cycle();
        while replay.peek().is_some() || live.peek().is_some() {
            let from_replay = live.peek().is_none() || (replay.peek().is_some() && draws.next().unwrap());
            let message = if from_replay { replay.next() } else { live.next() }.unwrap();
            follower.tab_message(message);
        }

        let mut expected = Feed::default();
        indices.iter().for_each(|&index| expected.apply(data(index)));
        prop_assert_eq!(log_of(&follower.feed), log_of(&expected));
        prop_assert!(!follower.sync.is_syncing());
    }
}
