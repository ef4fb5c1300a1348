//! The names generator: every interval, 10 names from the Hundred Family Surnames,
//! published to the hub.

use app::event::{NameEntry, NamesEvent};
use rand::Rng;
use sse_hub::Hub;
use std::num::NonZeroU64;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_util::sync::CancellationToken;

/// Rows in every event.
pub const NAMES_PER_EVENT: usize = 10;

/// The Hundred Family Surnames as characters (568 of them), embedded at build time.
static SURNAMES: LazyLock<Vec<char>> =
    LazyLock::new(|| include_str!("../data/surnames.txt").trim_end().chars().collect());

/// The characters names are built from.
pub fn surnames() -> &'static [char] {
    &SURNAMES
}

/// The name starting at position `i`: `s[i] + s[i+15] + s[i-5]`, in characters, where a
/// position outside the string adds nothing (as `str[idx] || ''` does in the example).
pub fn name_at(i: usize) -> String {
    let s = surnames();
    [Some(i), i.checked_add(15), i.checked_sub(5)]
        .into_iter()
        .flatten()
        .filter_map(|position| s.get(position))
        .collect()
}

/// Ten entries, each from a position picked uniformly in the string; `value` is that position.
pub fn random_list(rng: &mut impl Rng) -> Vec<NameEntry> {
    (0..NAMES_PER_EVENT)
        .map(|_| {
            let i = rng.random_range(0..surnames().len());
            NameEntry { name: name_at(i), value: i as u32 }
        })
        .collect()
}

/// One event of the stream, stamped with the current time.
pub fn names_event(index: u64, rng: &mut impl Rng) -> NamesEvent {
    NamesEvent { list: random_list(rng), info: rfc3339_now(), index }
}

/// Now, as RFC 3339 in UTC with milliseconds (`2026-11-24T10:00:00.123Z`).
fn rfc3339_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Publishes an event every `interval`, the first one `interval` after start, until
/// `max_events` have gone out (then the stream's end) or `stop` is cancelled.
pub async fn publish(
    hub: Hub<NamesEvent>,
    interval: Duration,
    max_events: Option<NonZeroU64>,
    stop: CancellationToken,
) {
    let mut ticks = interval_at(Instant::now() + interval, interval);
    // A stalled runtime must not release a burst of catch-up events.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let last = max_events.map_or(u64::MAX, NonZeroU64::get);
    for index in 1..=last {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let id = hub.publish(|index| names_event(index, &mut rand::rng()));
        debug_assert_eq!(id.index, index, "the generator is the hub's only publisher");
    }
    hub.close(&format!("the stream ended after {last} events"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_holds_the_568_surname_characters() {
        assert_eq!(surnames().len(), 568);
        assert_eq!(surnames()[..4], ['赵', '钱', '孙', '李']);
        assert_eq!(surnames()[564..], ['百', '家', '姓', '终']);
    }

    #[test]
    fn name_rule_in_the_middle_takes_three_characters() {
        let s = surnames();
        for i in 5..s.len() - 15 {
            assert_eq!(name_at(i), String::from_iter([s[i], s[i + 15], s[i - 5]]), "at {i}");
        }
    }

    #[test]
    fn name_rule_drops_positions_outside_the_string() {
        let s = surnames();
        // Start: no character 5 before.
        assert_eq!(name_at(0), String::from_iter([s[0], s[15]]));
        assert_eq!(name_at(4), String::from_iter([s[4], s[19]]));
        // End: no character 15 after.
        assert_eq!(name_at(553), String::from_iter([s[553], s[548]]));
        assert_eq!(name_at(567), String::from_iter([s[567], s[562]]));
        assert_eq!(name_at(552), String::from_iter([s[552], s[567], s[547]]));
    }

    #[test]
    fn every_entry_starts_with_the_character_at_its_value() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let list = random_list(&mut rng);
            assert_eq!(list.len(), NAMES_PER_EVENT);
            for entry in list {
                let value = entry.value as usize;
                assert!(value < 568);
                assert_eq!(entry.name.chars().next(), Some(surnames()[value]));
                assert_eq!(entry.name, name_at(value));
            }
        }
    }

    #[test]
    fn info_is_rfc3339_utc_with_milliseconds() {
        let event = names_event(7, &mut rand::rng());
        assert_eq!(event.index, 7);
        assert_eq!(event.info.len(), "2026-11-24T10:00:00.123Z".len(), "{}", event.info);
        assert!(event.info.ends_with('Z'));
        assert!(humantime::parse_rfc3339(&event.info).is_ok(), "{}", event.info);
    }
}
