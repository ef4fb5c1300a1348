//! What a `GET /sse` turned away at `--max-connections` is told: when to come back, drawn
//! from a window that grows with how many were turned away lately (so a crowd of refused
//! clients comes back spread out, not in lockstep), in the form its client obeys.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use rand::Rng;
use std::time::{Duration, Instant};

/// The shortest and the longest window a refused client's wait is drawn from: seconds, so
/// that refusals stay rare requests; at most 30 s, so a client is back within 45 s of a slot
/// freeing up, however loaded the server.
const MIN_WINDOW: Duration = Duration::from_secs(2);
const MAX_WINDOW: Duration = Duration::from_secs(30);

/// A request turned away: it should come back after `wait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub wait: Duration,
}

impl Refused {
    /// The wait in whole seconds, rounded up and at least 1, as `Retry-After` allows no less.
    pub fn retry_after_secs(&self) -> u64 {
        self.wait.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// How long each refused client waits before it asks again.
#[derive(Debug)]
pub struct RefusalBackoff {
    /// The window with no load: `--retry-ms`, the wait of a client whose stream dropped.
    base: Duration,
    /// `--max-connections`: how many are waiting is counted against it.
    max_connections: u32,
    recent: RecentCount,
}

impl RefusalBackoff {
    /// Waits that start at about `base` and grow as refusals reach `max_connections` per `base`.
    pub fn new(base: Duration, max_connections: u32) -> Self {
        let period = base.clamp(MIN_WINDOW, MAX_WINDOW);
        Self { base, max_connections, recent: RecentCount::new(period, Instant::now()) }
    }

    /// Counts one refusal at `now` and draws its wait: between half and all of
    /// [`RefusalBackoff::window`].
    pub fn refuse(&mut self, now: Instant, rng: &mut impl Rng) -> Duration {
        let waiting = self.recent.add(now);
        let window = self.window(waiting);
        window.mul_f64(rng.random_range(0.5..=1.0))
    }

    /// The window for `waiting` clients refused over the last period: each comes back about
    /// once a window, so they are about as many as are waiting now. `base` while few wait,
    /// twice that once as many wait as there are slots, and so on, within
    /// [`MIN_WINDOW`]..=[`MAX_WINDOW`].
    fn window(&self, waiting: f64) -> Duration {
        let load = waiting / f64::from(self.max_connections);
        self.base.mul_f64(1.0 + load).clamp(MIN_WINDOW, MAX_WINDOW)
    }
}

/// Events over the last `period`, estimated from the count in the current period and the
/// previous one, weighted by how much of it still lies in the window (a sliding window, as
/// rate limiters keep): constant memory, however many come.
#[derive(Debug)]
struct RecentCount {
    period: Duration,
    started: Instant,
    current: u64,
    previous: u64,
}

impl RecentCount {
    fn new(period: Duration, now: Instant) -> Self {
        Self { period, started: now, current: 0, previous: 0 }
    }

    /// Counts one at `now`; returns the count over the last period, this one included.
    fn add(&mut self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed >= self.period * 2 {
            (self.previous, self.current, self.started) = (0, 0, now);
        } else if elapsed >= self.period {
            (self.previous, self.current) = (self.current, 0);
            self.started += self.period;
        }
        self.current += 1;
        let into_period =
            now.saturating_duration_since(self.started).as_secs_f64() / self.period.as_secs_f64();
        self.previous as f64 * (1.0 - into_period).max(0.0) + self.current as f64
    }
}

/// Whether the request's `Accept` names `text/event-stream` (as every EventSource's does),
/// with a quality above 0: such a client is told to come back with `retry:`, as an error
/// status would stop it for good.
pub fn accepts_event_stream(headers: &HeaderMap) -> bool {
    let ranges = headers.get_all(ACCEPT).iter().filter_map(|value| value.to_str().ok());
    ranges.flat_map(|value| value.split(',')).any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media_type = parts.next().unwrap_or_default();
        media_type.eq_ignore_ascii_case("text/event-stream") && !parts.any(is_zero_quality)
    })
}

/// `q=0` (or `q=0.0…`): "not acceptable".
fn is_zero_quality(parameter: &str) -> bool {
    parameter
        .split_once('=')
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
        .and_then(|(_, value)| value.trim().parse::<f64>().ok())
        .is_some_and(|quality| quality <= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn seconds(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn the_window_starts_at_the_retry_and_grows_with_the_crowd_up_to_its_cap() {
        let backoff = RefusalBackoff::new(Duration::from_secs(10), 100);
        assert_eq!(backoff.window(0.0), seconds(10.0));
        assert_eq!(backoff.window(50.0), seconds(15.0));
        assert_eq!(backoff.window(100.0), seconds(20.0), "as many waiting as there are slots");
        assert_eq!(backoff.window(1e9), MAX_WINDOW);
        let fast = RefusalBackoff::new(Duration::from_millis(50), 100);
        assert_eq!(fast.window(1.0), MIN_WINDOW, "seconds, not milliseconds");
    }

    #[test]
    fn refused_clients_are_spread_over_half_to_all_of_the_window() {
        let mut backoff = RefusalBackoff::new(Duration::from_secs(10), 10_000);
        let now = Instant::now();
        let waits: Vec<Duration> =
            (0..200).map(|_| backoff.refuse(now, &mut rand::rng())).collect();
        assert!(waits.iter().all(|wait| (seconds(5.0)..=seconds(10.2)).contains(wait)));
        let mut distinct = waits.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 150, "not in lockstep: {} distinct of 200", distinct.len());
    }

    #[test]
    fn a_storm_of_refusals_lengthens_the_wait() {
        let mut backoff = RefusalBackoff::new(Duration::from_secs(10), 100);
        let now = Instant::now();
        let first = backoff.refuse(now, &mut rand::rng());
        let storm: Vec<Duration> =
            (0..1_000).map(|_| backoff.refuse(now, &mut rand::rng())).collect();
        assert!(first <= seconds(10.2));
        assert!(storm[999] >= MAX_WINDOW / 2, "ten times the slots waiting: {:?}", storm[999]);
    }

    #[test]
    fn the_recent_count_slides_and_forgets() {
        let start = Instant::now();
        let mut count = RecentCount::new(Duration::from_secs(10), start);
        for _ in 0..9 {
            count.add(start);
        }
        assert_eq!(count.add(start), 10.0);
        // Halfway into the next period, half of the previous one is still in the window.
        assert_eq!(count.add(start + seconds(15.0)), 6.0);
        assert_eq!(count.add(start + seconds(60.0)), 1.0, "long quiet: only this one");
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        for (wait_ms, expected) in [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (10_000, 10)] {
            let refused = Refused { wait: Duration::from_millis(wait_ms) };
            assert_eq!(refused.retry_after_secs(), expected, "{wait_ms} ms");
        }
    }

    #[test]
    fn only_clients_that_accept_an_event_stream_are_told_so() {
        let accepts = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
            accepts_event_stream(&headers)
        };
        assert!(accepts("text/event-stream"), "what every EventSource sends");
        assert!(accepts("application/json, Text/Event-Stream;q=0.5"));
        assert!(!accepts("text/event-stream;q=0"));
        assert!(!accepts("text/event-stream; q=0.000"));
        assert!(!accepts("*/*"), "curl and friends get the status code");
        assert!(!accepts("text/html"));
        assert!(!accepts_event_stream(&HeaderMap::new()));
    }
}
