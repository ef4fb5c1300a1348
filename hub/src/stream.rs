//! A subscription as the bytes of one connection: [`Delivery`] decides what to send next,
//! and [`Subscription::into_stream`] turns that into a response body. A server that writes
//! to its sockets itself drives a [`Delivery`] directly: awaiting [`Delivery::next`] per
//! connection, or, for many connections in one task, calling [`Delivery::try_next`] on each
//! whose hub's [`News`] moved when a [`Doorbell`](crate::Doorbell) rings, and on each whose
//! [`Delivery::ping_due`] time came.

use crate::hub::{Live, News, Subscription};
use crate::metrics::{HubMetrics, SubscriberCount};
use crate::{CLOSE_EVENT, EventId, PING_EVENT, frame};
use async_stream::stream;
use bytes::Bytes;
use futures_core::Stream;
use std::convert::Infallible;
use std::num::NonZeroU64;
use std::time::Duration;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::time::{Instant, Interval, interval_at};
use tokio_util::sync::CancellationToken;

/// How one connection's stream behaves. `StreamOptions::default()` suits most streams;
/// change what you need with the builder methods:
///
/// ```
/// use sse_hub::StreamOptions;
/// use std::time::Duration;
///
/// let options = StreamOptions::default().retry(Duration::from_secs(5)).limit(100);
/// assert_eq!(options.heartbeat, Duration::from_secs(15));
/// ```
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Sent as `retry:` once, with the connection's first frame: how long the browser waits
    /// before reconnecting. Default: 3 s.
    pub retry: Duration,
    /// How long a stream may stay silent before a `ping` event goes out: it keeps proxies
    /// from closing idle streams and lets a page see that the link is alive (EventSource
    /// hides comment lines from pages). While events flow, no ping is sent. Default: 15 s.
    pub heartbeat: Duration,
    /// Close after this many events (replayed ones included) with `close`. Default: none.
    pub limit: Option<NonZeroU64>,
    /// Cancelled at shutdown: the stream ends without `close`, so browsers reconnect.
    /// Default: never (`sse_lean::Lean` ends its streams at shutdown by itself). A stream
    /// that a writer drives with [`Delivery::try_next`] sees it at its next event or ping.
    pub stop: CancellationToken,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            retry: Duration::from_secs(3),
            heartbeat: Duration::from_secs(15),
            limit: None,
            stop: CancellationToken::new(),
        }
    }
}

impl StreamOptions {
    /// Sets [`StreamOptions::retry`].
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`StreamOptions::heartbeat`].
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets [`StreamOptions::limit`]; `0` means no limit.
    pub fn limit(mut self, events: u64) -> Self {
        self.limit = NonZeroU64::new(events);
        self
    }

    /// Sets [`StreamOptions::stop`].
    pub fn stop(mut self, stop: CancellationToken) -> Self {
        self.stop = stop;
        self
    }
}

/// What comes next on a connection.
enum Next {
    Event(EventId, Bytes),
    /// A frame that is not an event of the stream (`gap`).
    Notice(Bytes),
    /// The shared log lost events before this one: a `gap` for subscribers that missed some.
    #[cfg(feature = "redis")]
    Hole(EventId, Bytes),
    Close(Bytes),
    Ping,
    End,
}

/// What a delivery has ready at once ([`Delivery::try_next`]).
#[derive(Debug)]
pub enum TryNext {
    /// Frames to write now.
    Frames(Frames),
    /// Nothing until the hub publishes again or [`Delivery::ping_due`] comes.
    Empty,
    /// The stream is over.
    Finished,
}

/// Up to three frames to write together: `retry:` (on a connection's first write) and an
/// event, and `close` when the event was the connection's last. They are shared, never copied per connection.
#[derive(Debug, Default)]
pub struct Frames {
    parts: [Bytes; 3],
    len: usize,
}

impl Frames {
    fn one(frame: Bytes) -> Self {
        let mut frames = Self::default();
        frames.push(frame);
        frames
    }

    fn push(&mut self, frame: Bytes) {
        self.parts[self.len] = frame;
        self.len += 1;
    }

    /// Puts `frame` before the others.
    fn push_front(&mut self, frame: Bytes) {
        self.parts[..=self.len].rotate_right(1);
        self.parts[0] = frame;
        self.len += 1;
    }

    /// The frames, in the order they must be written.
    pub fn as_slice(&self) -> &[Bytes] {
        &self.parts[..self.len]
    }

    /// Their length in bytes.
    pub fn byte_len(&self) -> usize {
        self.as_slice().iter().map(Bytes::len).sum()
    }
}

impl IntoIterator for Frames {
    type Item = Bytes;
    type IntoIter = std::iter::Take<std::array::IntoIter<Bytes, 3>>;

    fn into_iter(self) -> Self::IntoIter {
        self.parts.into_iter().take(self.len)
    }
}

/// One connection's place in the stream: the backlog (replay, or `gap` and the latest
/// event), then live events and heartbeats, until `close`, the limit, shutdown, or the
/// subscriber falling more than the hub's backlog behind (its browser then resumes from
/// history). Every frame it hands out is counted as delivered.
pub struct Delivery {
    backlog: std::vec::IntoIter<(Option<EventId>, Bytes)>,
    live: broadcast::Receiver<Live>,
    news: News,
    /// Only where several processes feed the hub: never send an index twice.
    seen_through: u64,
    /// `retry:`, until it goes out with the connection's first frame.
    retry: Option<Bytes>,
    heartbeat: Duration,
    /// Wakes [`Delivery::next`] for a ping; made on its first wait, as a writer that only
    /// calls [`Delivery::try_next`] never needs it.
    heartbeat_timer: Option<Interval>,
    /// When the last frame was handed out: a ping is due one heartbeat after it.
    last_sent: Instant,
    limit: Option<NonZeroU64>,
    stop: CancellationToken,
    /// The server's own stop, if it serves this delivery ([`Delivery::end_on`]).
    server_stop: Option<CancellationToken>,
    delivered: u64,
    last_id: Option<EventId>,
    finished: bool,
    metrics: HubMetrics,
    /// Keeps the subscriber in the gauge until the delivery is dropped.
    _counted: SubscriberCount,
}

impl Subscription {
    /// What to send on this subscriber's connection, and when.
    pub fn into_delivery(self, options: StreamOptions) -> Delivery {
        let Subscription { backlog, live, news, seen_through, metrics, counted, .. } = self;
        let StreamOptions { retry, heartbeat, limit, stop } = options;
        Delivery {
            backlog: backlog.into_iter(),
            live,
            news,
            seen_through,
            retry: Some(frame::retry(retry)),
            heartbeat,
            heartbeat_timer: None,
            last_sent: Instant::now(),
            limit,
            stop,
            server_stop: None,
            delivered: 0,
            last_id: None,
            finished: false,
            metrics,
            _counted: counted,
        }
    }

    /// The response body: every frame of [`Subscription::into_delivery`], in order.
    pub fn into_stream(
        self,
        options: StreamOptions,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        self.into_delivery(options).into_body()
    }
}

impl Delivery {
    /// Ends this delivery when `stop` is cancelled too, as when [`StreamOptions::stop`] is:
    /// for a server that ends its streams at shutdown by itself (`sse_lean` does).
    pub fn end_on(mut self, stop: CancellationToken) -> Self {
        self.server_stop = Some(stop);
        self
    }

    /// Whether a stop ([`StreamOptions::stop`], [`Delivery::end_on`]) was cancelled.
    fn stopped(&self) -> bool {
        self.stop.is_cancelled()
            || self.server_stop.as_ref().is_some_and(|stop| stop.is_cancelled())
    }

    /// Every frame still to come, in order, as a response body.
    pub fn into_body(mut self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        stream! {
            while let Some(frames) = self.next().await {
                for frame in frames {
                    yield Ok(frame);
                }
            }
        }
    }

    /// The next frames to write, `None` once the stream is over. Cancel-safe: dropped before
    /// it completes, it loses nothing, so it can race a socket's other events in `select!`.
    pub async fn next(&mut self) -> Option<Frames> {
        loop {
            match self.try_next() {
                TryNext::Frames(frames) => return Some(frames),
                TryNext::Finished => return None,
                TryNext::Empty => {}
            }
            let next = self.wait_source().await;
            if let Some(frames) = self.frames_for(next) {
                return Some(self.hand_out(frames));
            }
        }
    }

    /// The next frames if they are ready now, without waiting: for a writer that drives many
    /// deliveries in one task, and tries them again when the hub's
    /// [`Doorbell`](crate::Doorbell) rings or at [`Delivery::ping_due`].
    pub fn try_next(&mut self) -> TryNext {
        while !self.finished {
            let Some(next) = self.ready_source() else { return TryNext::Empty };
            if let Some(frames) = self.frames_for(next) {
                return TryNext::Frames(self.hand_out(frames));
            }
        }
        TryNext::Finished
    }

    /// The hub's [`News`]: what a writer of many deliveries groups them by.
    pub fn news(&self) -> &News {
        &self.news
    }

    /// When a `ping` is due if nothing else is sent before.
    pub fn ping_due(&self) -> Instant {
        self.last_sent + self.heartbeat
    }

    /// Counts `frames` as delivered now; the connection's first frames carry `retry:`.
    fn hand_out(&mut self, mut frames: Frames) -> Frames {
        if let Some(retry) = self.retry.take() {
            frames.push_front(retry);
        }
        self.metrics.delivered_bytes.inc_by(frames.byte_len() as u64);
        self.last_sent = Instant::now();
        frames
    }

    /// What is ready without waiting: the backlog first, then the end, a live event, or a
    /// ping that is due.
    fn ready_source(&mut self) -> Option<Next> {
        match self.backlog.next() {
            Some((Some(id), frame)) => return Some(Next::Event(id, frame)),
            Some((None, frame)) => return Some(Next::Notice(frame)),
            None => {}
        }
        if self.stopped() {
            return Some(Next::End);
        }
        let item = match self.live.try_recv() {
            Ok(item) => Ok(item),
            Err(TryRecvError::Empty) => {
                return (Instant::now() >= self.ping_due()).then_some(Next::Ping);
            }
            Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
        };
        Some(next_live(item, &self.metrics))
    }

    /// Waits for the end, a live event, or the heartbeat timer.
    async fn wait_source(&mut self) -> Next {
        let (due, period) = (self.ping_due(), self.heartbeat);
        let heartbeat = self.heartbeat_timer.get_or_insert_with(|| interval_at(due, period));
        let server_stop = async {
            match &self.server_stop {
                Some(stop) => stop.cancelled().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => Next::End,
            () = server_stop => Next::End,
            item = self.live.recv() => next_live(item, &self.metrics),
            _ = heartbeat.tick() => Next::Ping,
        }
    }

    /// The frames `next` calls for (none for an event already sent), finishing the delivery
    /// at its end.
    fn frames_for(&mut self, next: Next) -> Option<Frames> {
        match next {
            Next::Event(id, _) if id.index <= self.seen_through => None,
            Next::Event(id, frame) => Some(self.event(id, frame)),
            Next::Notice(frame) => Some(Frames::one(frame)),
            #[cfg(feature = "redis")]
            Next::Hole(first_available, _) if first_available.index <= self.seen_through + 1 => {
                None
            }
            #[cfg(feature = "redis")]
            Next::Hole(_, frame) => Some(Frames::one(frame)),
            Next::Close(frame) => {
                self.finished = true;
                Some(Frames::one(frame))
            }
            Next::Ping => self.ping_if_idle(),
            Next::End => {
                self.finished = true;
                None
            }
        }
    }

    /// A `ping` if nothing was sent for a whole heartbeat period; otherwise the next tick
    /// moves to one period after the last frame. The timer is touched once a period, not
    /// once an event.
    fn ping_if_idle(&mut self) -> Option<Frames> {
        let due = self.ping_due();
        if Instant::now() < due {
            if let Some(timer) = &mut self.heartbeat_timer {
                timer.reset_at(due);
            }
            return None;
        }
        let last = self.last_id.map(|id| id.to_string()).unwrap_or_default();
        Some(Frames::one(frame::named(PING_EVENT, &last)))
    }

    fn event(&mut self, id: EventId, frame: Bytes) -> Frames {
        self.seen_through = id.index;
        self.last_id = Some(id);
        self.delivered += 1;
        self.metrics.delivered.inc();
        let mut frames = Frames::one(frame);
        if self.limit.is_some_and(|limit| self.delivered == limit.get()) {
            let reason =
                format!("this connection's limit of {} events was reached", self.delivered);
            frames.push(frame::named(CLOSE_EVENT, &reason));
            self.finished = true;
        }
        frames
    }
}

fn next_live(item: Result<Live, RecvError>, metrics: &HubMetrics) -> Next {
    match item {
        Ok(Live::Event { id, frame }) => Next::Event(id, frame),
        Ok(Live::Close(frame)) => Next::Close(frame),
        #[cfg(feature = "redis")]
        Ok(Live::Gap { first_available, frame }) => Next::Hole(first_available, frame),
        #[cfg(feature = "redis")]
        Ok(Live::Restart) => {
            tracing::info!("the stream moved to another epoch; ending this one so it resumes");
            Next::End
        }
        Err(RecvError::Lagged(missed)) => {
            tracing::warn!(missed, "subscriber fell behind; ending its stream so it resumes");
            metrics.dropped_slow.inc();
            Next::End
        }
        Err(RecvError::Closed) => Next::End,
    }
}
