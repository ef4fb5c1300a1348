//! What the subscribers received: connection counts, and for each event published in the
//! measuring window, how many subscribers got it and how long after its `info` timestamp.

use super::sse::{Event, Item};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

/// Longest latency the histogram holds, in microseconds (a minute); longer ones count as it.
const LATENCY_CEILING_US: u64 = 60_000_000;
/// A stream whose median delay is over this is counted as behind.
const BEHIND_MS: f64 = 1000.0;

/// Counts shared by every subscriber of a run (behind one mutex).
#[derive(Debug, Default)]
pub struct Tally {
    connected: u64,
    failed: u64,
    ended: u64,
    /// Why connections failed or streams ended, with how often.
    reasons: BTreeMap<String, u64>,
    data_events: u64,
    /// Named events other than `message` (`ping`, `close`, `gap`), by name.
    named_events: BTreeMap<String, u64>,
    comments: u64,
    unreadable: u64,
    /// Hubs the streams are spread over evenly, each event going to one hub's (0 is 1).
    hubs: u64,
    window: Option<Window>,
}

/// The measuring window: events published in it, and who received them.
#[derive(Debug)]
struct Window {
    start: SystemTime,
    end: Option<SystemTime>,
    /// Streams open when the window started.
    open_at_start: u64,
    ended_before: u64,
    events: HashMap<Box<str>, Receipt>,
    /// Ids known to be published outside the window, so their JSON is read only once.
    outside: HashSet<Box<str>>,
    latency_us: Histogram<u64>,
    /// Each stream's delays, by the number [`Tally::connected`] gave it: one stream seconds
    /// behind shows here even when the others keep the run's percentiles low.
    per_stream: Vec<Delays>,
    bytes: u64,
}

#[derive(Debug)]
struct Receipt {
    published: SystemTime,
    receivers: u64,
}

/// Only the field the latency needs; the rest of the payload is skipped unread.
#[derive(Deserialize)]
struct Stamp<'a> {
    #[serde(borrow)]
    info: &'a str,
}

impl Tally {
    /// A subscriber got `200` and its stream is open: its number, to record its items with.
    pub fn connected(&mut self) -> StreamNo {
        self.connected += 1;
        StreamNo(self.connected - 1)
    }

    /// A subscriber could not connect.
    pub fn failed(&mut self, reason: String) {
        self.failed += 1;
        *self.reasons.entry(reason).or_default() += 1;
    }

    /// An open stream ended, for `reason`.
    pub fn ended(&mut self, reason: String) {
        self.ended += 1;
        *self.reasons.entry(reason).or_default() += 1;
    }

    /// The streams are spread evenly over `hubs` hubs: an event is received by all once
    /// every stream of its hub got it.
    pub fn spread_over(&mut self, hubs: u64) {
        self.hubs = hubs;
    }

    /// Subscribers that have connected or failed so far.
    pub fn settled(&self) -> u64 {
        self.connected + self.failed
    }

    /// Streams open now.
    pub fn open_streams(&self) -> u64 {
        self.connected - self.ended
    }

    /// Starts the window: events published from `now` on are counted.
    pub fn open_window(&mut self, now: SystemTime) {
        let latency_us = latency_histogram();
        self.window = Some(Window {
            start: now,
            end: None,
            open_at_start: self.open_streams(),
            ended_before: self.ended,
            events: HashMap::new(),
            outside: HashSet::new(),
            latency_us,
            per_stream: Vec::new(),
            bytes: 0,
        });
    }

    /// Ends the window: events published after `now` are not counted.
    pub fn close_window(&mut self, now: SystemTime) {
        if let Some(window) = &mut self.window {
            window.end = Some(now);
        }
    }

    /// One item of `stream`, received at `received`.
    pub fn record(&mut self, item: Item<'_>, received: SystemTime, stream: StreamNo) {
        match item {
            Item::Comment => self.comments += 1,
            Item::Event(event) if event.name == "message" => {
                self.data_events += 1;
                if self.window.as_mut().is_some_and(|w| !w.record(&event, received, stream)) {
                    self.unreadable += 1;
                }
            }
            Item::Event(event) => match self.named_events.get_mut(event.name) {
                Some(count) => *count += 1,
                None => {
                    self.named_events.insert(event.name.to_owned(), 1);
                }
            },
        }
    }

    /// The counts as they stand.
    pub fn summary(&self) -> Summary {
        let window = self.window.as_ref();
        let fan_out = window.map(|w| w.fan_out(self.ended, self.hubs.max(1)));
        Summary {
            connected: self.connected,
            failed: self.failed,
            streams_ended: self.ended,
            reasons: self.reasons.clone(),
            data_events_received: self.data_events,
            named_events_received: self.named_events.clone(),
            comments_received: self.comments,
            unreadable_events: self.unreadable,
            fan_out,
            latency_ms: window.map(|w| Latency::of(&w.latency_us)),
            stream_lag: window.map(|w| StreamLag::of(&w.per_stream)),
        }
    }
}

impl Window {
    /// Counts a data event of `stream` if it was published in the window; false if it
    /// cannot be read.
    fn record(&mut self, event: &Event<'_>, received: SystemTime, stream: StreamNo) -> bool {
        if let Some(receipt) = self.events.get_mut(event.id) {
            receipt.receivers += 1;
            let published = receipt.published;
            self.count(published, received, event.bytes, stream);
            return true;
        }
        if self.outside.contains(event.id) {
            return true;
        }
        let Some(published) = published_at(event.data) else { return false };
        if published < self.start || self.end.is_some_and(|end| published > end) {
            self.outside.insert(event.id.into());
        } else {
            self.events.insert(event.id.into(), Receipt { published, receivers: 1 });
            self.count(published, received, event.bytes, stream);
        }
        true
    }

    fn count(
        &mut self,
        published: SystemTime,
        received: SystemTime,
        bytes: usize,
        stream: StreamNo,
    ) {
        let latency = received.duration_since(published).unwrap_or_default();
        self.latency_us.saturating_record(latency.as_micros() as u64);
        let index = stream.0 as usize;
        if self.per_stream.len() <= index {
            self.per_stream.resize_with(index + 1, Delays::default);
        }
        self.per_stream[index].record(latency.as_secs_f64() * 1000.0);
        self.bytes += bytes as u64;
    }

    /// Who got what, with the streams spread over `hubs` hubs.
    fn fan_out(&self, ended_now: u64, hubs: u64) -> FanOut {
        let receivers = || self.events.values().map(|receipt| receipt.receivers);
        let deliveries: u64 = receivers().sum();
        let per_hub = self.open_at_start / hubs;
        FanOut {
            subscribers_at_window_start: self.open_at_start,
            streams_ended_since_window_start: ended_now - self.ended_before,
            events: self.events.len() as u64,
            events_missing_between_first_and_last: missing(self.events.keys()),
            events_received_by_all: receivers().filter(|&n| n >= per_hub).count() as u64,
            min_receivers: receivers().min().unwrap_or(0),
            max_receivers: receivers().max().unwrap_or(0),
            deliveries,
            mean_event_bytes: if deliveries == 0 {
                0.0
            } else {
                self.bytes as f64 / deliveries as f64
            },
        }
    }
}

/// The `info` timestamp of an event's JSON payload.
fn published_at(data: &[u8]) -> Option<SystemTime> {
    let stamp: Stamp<'_> = serde_json::from_slice(data).ok()?;
    humantime::parse_rfc3339(stamp.info).ok()
}

/// An empty histogram of latencies in microseconds, up to [`LATENCY_CEILING_US`].
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_CEILING_US, 3)
        .expect("1 µs to a minute at 3 significant digits is a valid histogram")
}

/// Events missing between the first and the last of each epoch (each hub's stream has its
/// own) among `ids`, `<epoch>-<index>` event ids.
fn missing<'a>(ids: impl Iterator<Item = &'a Box<str>>) -> u64 {
    let mut epochs: HashMap<u64, (u64, u64, u64)> = HashMap::new();
    for (epoch, index) in ids.filter_map(|id| event_id(id)) {
        let (first, last, count) = epochs.entry(epoch).or_insert((index, index, 0));
        (*first, *last, *count) = ((*first).min(index), (*last).max(index), *count + 1);
    }
    epochs.values().map(|(first, last, count)| (last - first + 1).saturating_sub(*count)).sum()
}

/// The epoch (the stream's start) and index of an `<epoch>-<index>` event id.
pub fn event_id(id: &str) -> Option<(u64, u64)> {
    let (epoch, index) = id.rsplit_once('-')?;
    Some((epoch.parse().ok()?, index.parse().ok()?))
}

/// A stream's number in a run, in the order streams opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamNo(u64);

/// Buckets of [`Delays`]: bucket `b > 0` holds delays from 2^((b-1)/2) ms to 2^(b/2) ms, so
/// the last holds 33 s and more.
const DELAY_BUCKETS: usize = 32;

/// One stream's delays, counted in buckets a factor of √2 apart: 128 bytes a stream.
#[derive(Clone, Debug, Default)]
struct Delays([u32; DELAY_BUCKETS]);

impl Delays {
    fn record(&mut self, ms: f64) {
        let bucket = if ms < 1.0 { 0 } else { (2.0 * ms.log2()).floor() as usize + 1 };
        let count = &mut self.0[bucket.min(DELAY_BUCKETS - 1)];
        *count = count.saturating_add(1);
    }

    /// The median delay, rounded up to its bucket's upper edge (at most √2 above it); `None`
    /// with no delay recorded.
    fn median_ms(&self) -> Option<f64> {
        let total: u64 = self.0.iter().map(|&count| u64::from(count)).sum();
        let mut below = 0;
        for (bucket, &count) in self.0.iter().enumerate() {
            below += u64::from(count);
            if total > 0 && 2 * below >= total {
                return Some(2f64.powf(bucket as f64 / 2.0));
            }
        }
        None
    }
}

/// How far behind the streams ran, stream by stream: each stream's median delay in the
/// window (rounded up, at most √2 above it), and how those medians spread over the streams.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamLag {
    /// Streams that received an event of the window.
    pub streams: u64,
    /// The median over streams of each stream's median delay.
    pub median_stream_p50_ms: f64,
    /// The stream that ran furthest behind: its median delay.
    pub max_stream_p50_ms: f64,
    /// Streams whose median delay was over a second.
    pub streams_p50_over_1s: u64,
}

impl StreamLag {
    fn of(per_stream: &[Delays]) -> Self {
        let mut medians: Vec<f64> = per_stream.iter().filter_map(Delays::median_ms).collect();
        medians.sort_by(f64::total_cmp);
        Self {
            streams: medians.len() as u64,
            median_stream_p50_ms: medians.get(medians.len() / 2).copied().unwrap_or(0.0),
            max_stream_p50_ms: medians.last().copied().unwrap_or(0.0),
            streams_p50_over_1s: medians.iter().filter(|&&ms| ms > BEHIND_MS).count() as u64,
        }
    }
}

/// Everything counted, ready to print (and to read back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub connected: u64,
    pub failed: u64,
    pub streams_ended: u64,
    /// Why connections failed or streams ended, with counts.
    pub reasons: BTreeMap<String, u64>,
    pub data_events_received: u64,
    pub named_events_received: BTreeMap<String, u64>,
    pub comments_received: u64,
    /// Data events whose payload had no readable `info` timestamp.
    pub unreadable_events: u64,
    /// `None` when the run ended before its window opened.
    pub fan_out: Option<FanOut>,
    pub latency_ms: Option<Latency>,
    /// `None` when the run ended before its window opened.
    pub stream_lag: Option<StreamLag>,
}

/// Per-event fan-out of the events published in the window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanOut {
    pub subscribers_at_window_start: u64,
    pub streams_ended_since_window_start: u64,
    /// Distinct events published in the window that anyone received.
    pub events: u64,
    /// Ids between the first and the last of one epoch (one hub's stream) that nobody
    /// received.
    pub events_missing_between_first_and_last: u64,
    /// Events every subscriber open at the window's start received (with `load --hubs`,
    /// every subscriber of the event's hub).
    pub events_received_by_all: u64,
    pub min_receivers: u64,
    pub max_receivers: u64,
    /// Event receipts summed over subscribers.
    pub deliveries: u64,
    /// Bytes of the event stream per delivery (`retry:`, `id:`, `data:` lines and the blank line).
    pub mean_event_bytes: f64,
}

/// Publish (`info`) to receive, in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// The figures of `histogram` (microseconds), in milliseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: histogram.len(),
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn data_event<'a>(id: &'a str, data: &'a str) -> Item<'a> {
        Item::Event(Event { id, name: "message", data: data.as_bytes(), retry: None, bytes: 100 })
    }

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_000 + ms)
    }

    fn payload(ms: u64) -> String {
        let info = humantime::format_rfc3339_millis(at(ms));
        format!(r#"{{"list":[{{"name":"x","value":1}}],"info":"{info}","index":1}}"#)
    }

    #[test]
    fn counts_receivers_and_latency_of_window_events_only() {
        let mut tally = Tally::default();
        let streams: Vec<StreamNo> = (0..3).map(|_| tally.connected()).collect();
        let first = streams[0];
        tally.record(data_event("9-1", &payload(0)), at(5), first); // before the window opened
        tally.open_window(at(100));
        tally.record(data_event("9-1", &payload(0)), at(105), first); // published before it
        for (receiver, stream) in (0..).zip(&streams) {
            tally.record(data_event("9-2", &payload(200)), at(210 + receiver), *stream);
        }
        tally.record(data_event("9-4", &payload(400)), at(450), first);
        tally.close_window(at(500));
        tally.record(data_event("9-5", &payload(600)), at(601), first); // published after it
        tally.record(Item::Comment, at(700), first);

        let summary = tally.summary();
        let fan_out = summary.fan_out.unwrap();
        assert_eq!(summary.data_events_received, 7);
        assert_eq!(summary.comments_received, 1);
        assert_eq!((fan_out.events, fan_out.deliveries), (2, 4));
        assert_eq!((fan_out.min_receivers, fan_out.max_receivers), (1, 3));
        assert_eq!(fan_out.events_received_by_all, 1);
        assert_eq!(fan_out.events_missing_between_first_and_last, 1, "9-3");
        let latency = summary.latency_ms.unwrap();
        assert_eq!(latency.count, 4);
        assert!((latency.max - 50.0).abs() < 0.1, "{latency:?}");
    }

    #[test]
    fn over_hubs_an_event_is_received_by_all_when_its_hubs_streams_got_it() {
        let mut tally = Tally::default();
        tally.spread_over(2);
        let streams: Vec<StreamNo> = (0..4).map(|_| tally.connected()).collect();
        tally.open_window(at(0));
        // Hub 0 is epoch 7, its streams 0 and 2; hub 1 is epoch 8, its streams 1 and 3.
        for (id, published, receivers) in [
            ("7-1", 10, [0, 2].as_slice()),
            ("8-1", 20, &[1, 3]),
            ("7-3", 30, &[0]),
            ("8-2", 40, &[1, 3]),
        ] {
            for stream in receivers {
                tally.record(
                    data_event(id, &payload(published)),
                    at(published + 1),
                    streams[*stream],
                );
            }
        }
        let fan_out = tally.summary().fan_out.unwrap();
        assert_eq!((fan_out.events, fan_out.deliveries), (4, 7));
        assert_eq!(fan_out.events_received_by_all, 3, "7-3 reached one of hub 0's two streams");
        assert_eq!(fan_out.events_missing_between_first_and_last, 1, "7-2; hub 1 missed none");
    }

    #[test]
    fn one_stream_far_behind_shows_although_the_percentiles_hide_it() {
        let mut tally = Tally::default();
        let streams: Vec<StreamNo> = (0..200).map(|_| tally.connected()).collect();
        tally.open_window(at(0));
        for event in 1..=10 {
            let (id, published) = (format!("9-{event}"), 100 * event);
            for stream in &streams[1..] {
                tally.record(data_event(&id, &payload(published)), at(published + 3), *stream);
            }
            // The first stream gets each event 8 s late.
            tally.record(data_event(&id, &payload(published)), at(published + 8000), streams[0]);
        }
        let summary = tally.summary();
        assert!(summary.latency_ms.unwrap().p99 < 10.0, "one stream in 200 is under the p99");
        let lag = summary.stream_lag.unwrap();
        assert_eq!((lag.streams, lag.streams_p50_over_1s), (200, 1));
        assert!((3.0..=3.0 * 2f64.sqrt()).contains(&lag.median_stream_p50_ms), "{lag:?}");
        assert!((8000.0..=8000.0 * 2f64.sqrt()).contains(&lag.max_stream_p50_ms), "{lag:?}");
    }

    #[test]
    fn named_events_and_unreadable_payloads_are_counted_apart() {
        let mut tally = Tally::default();
        tally.open_window(at(0));
        let ping = Event { id: "9-1", name: "ping", data: b"9-1", retry: None, bytes: 24 };
        let stream = tally.connected();
        tally.record(Item::Event(ping), at(1), stream);
        tally.record(data_event("9-2", "not json"), at(2), stream);
        let summary = tally.summary();
        assert_eq!(summary.named_events_received.get("ping"), Some(&1));
        assert_eq!(summary.unreadable_events, 1);
    }
}
