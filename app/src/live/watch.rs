//! Timers and browser events the live page watches, each handing over to a callback: the
//! dead-link check, the browser going offline and online, and a one-off wake-up.

use leptos::prelude::*;
use std::time::Duration;

/// How long the link may be silent before it counts as dead: 2.5 × the longer of the
/// event interval and the heartbeat period (the server sends one or the other that often).
pub fn dead_link_after(interval_ms: u64, heartbeat_ms: u64) -> Duration {
    Duration::from_millis(interval_ms.max(heartbeat_ms).saturating_mul(5) / 2)
}

/// Runs `check` about 4 times per `silence_limit` (at least once a second), in the browser only.
pub fn every_quarter_of(silence_limit: Duration, check: impl Fn() + Clone + 'static) {
    if silence_limit.is_zero() {
        return; // No pace known (a page rendered without the server's seed).
    }
    let period = (silence_limit / 4).min(Duration::from_secs(1));
    Effect::new(move |_| {
        let handle = set_interval_with_handle(check.clone(), period).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
}

/// Calls `offline` and `online` when the browser goes offline and comes back.
pub fn network(offline: impl Fn() + 'static, online: impl Fn() + 'static) {
    let offline = window_event_listener(leptos::ev::offline, move |_| offline());
    let online = window_event_listener(leptos::ev::online, move |_| online());
    on_cleanup(move || {
        offline.remove();
        online.remove();
    });
}

/// Calls `wake` at `at_ms` (`Date.now()`), or at once if that has passed.
pub fn at(at_ms: f64, wake: impl FnOnce() + 'static) {
    let wait = (at_ms - js_sys::Date::now()).max(0.0);
    set_timeout(wake, Duration::from_millis(wait as u64));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_dead_after_two_and_a_half_of_the_longer_period() {
        assert_eq!(dead_link_after(3_000, 15_000), Duration::from_millis(37_500));
        assert_eq!(dead_link_after(20_000, 15_000), Duration::from_secs(50));
        assert_eq!(dead_link_after(0, 0), Duration::ZERO);
    }
}
