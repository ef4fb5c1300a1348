//! A subscription as the bytes of one connection's response body.

use crate::hub::{Live, Subscription};
use crate::metrics::HubMetrics;
use crate::{CLOSE_EVENT, EventId, PING_EVENT, frame};
use async_stream::stream;
use bytes::Bytes;
use futures_core::Stream;
use std::convert::Infallible;
use std::num::NonZeroU64;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, interval_at};
use tokio_util::sync::CancellationToken;

/// How one connection's stream behaves.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Sent as `retry:` with every event: how long the browser waits before reconnecting.
    pub retry: Duration,
    /// Period of the `ping` event, which keeps proxies from closing idle streams and lets a
    /// page see that the link is alive (EventSource hides comment lines from pages).
    pub heartbeat: Duration,
    /// Close after this many events (replayed ones included) with `close`.
    pub limit: Option<NonZeroU64>,
    /// Cancelled at shutdown: the stream ends without `close`, so browsers reconnect.
    pub stop: CancellationToken,
}

/// What comes next on a connection.
enum Next {
    Event(EventId, Bytes),
    /// A frame that is not an event of the stream (`gap`).
    Notice(Bytes),
    Close(Bytes),
    Ping,
    End,
}

impl Subscription {
    /// The response body: the backlog (replay, or `gap` and the latest event), then live
    /// events and heartbeats, until `close`, the limit, shutdown, or the subscriber falling
    /// more than the hub's backlog behind (its browser then resumes from history).
    pub fn into_stream(
        self,
        options: StreamOptions,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        let Subscription { backlog, mut live, seen_through, metrics, counted, .. } = self;
        let StreamOptions { retry, heartbeat, limit, stop } = options;
        let retry = frame::retry(retry);
        let counts = metrics.clone();
        let frames = stream! {
            let mut backlog = backlog.into_iter();
            let mut heartbeat = interval_at(Instant::now() + heartbeat, heartbeat);
            let mut delivered = 0;
            let mut last_id = None;
            let mut seen_through = seen_through;
            loop {
                let next = match backlog.next() {
                    Some((Some(id), frame)) => Next::Event(id, frame),
                    Some((None, frame)) => Next::Notice(frame),
                    None => tokio::select! {
                        biased;
                        _ = stop.cancelled() => Next::End,
                        item = live.recv() => next_live(item, &counts),
                        _ = heartbeat.tick() => Next::Ping,
                    },
                };
                match next {
                    // Only where several processes feed the hub: never send an event twice.
                    Next::Event(id, _) if id.index <= seen_through => {}
                    Next::Event(id, frame) => {
                        seen_through = id.index;
                        counts.delivered.inc();
                        yield retry.clone();
                        yield frame;
                        last_id = Some(id);
                        delivered += 1;
                        if limit.is_some_and(|limit| delivered == limit.get()) {
                            let reason = format!("this connection's limit of {delivered} events was reached");
                            yield frame::named(CLOSE_EVENT, &reason);
                            break;
                        }
                    }
                    Next::Notice(frame) => yield frame,
                    Next::Close(frame) => {
                        yield frame;
                        break;
                    }
                    Next::Ping => {
                        let last = last_id.map(|id: EventId| id.to_string()).unwrap_or_default();
                        yield frame::named(PING_EVENT, &last);
                    }
                    Next::End => break,
                }
            }
        };
        // Every frame leaves through here, so bytes are counted in one place, as they are
        // handed to the connection.
        stream! {
            // Moved in, so the subscriber leaves the gauge only when its stream is dropped.
            let _counted = counted;
            for await frame in frames {
                metrics.sent(&frame);
                yield Ok(frame);
            }
        }
    }
}

fn next_live(item: Result<Live, RecvError>, metrics: &HubMetrics) -> Next {
    match item {
        Ok(Live::Event { id, frame }) => Next::Event(id, frame),
        Ok(Live::Close(frame)) => Next::Close(frame),
        Err(RecvError::Lagged(missed)) => {
            tracing::warn!(missed, "subscriber fell behind; ending its stream so it resumes");
            metrics.dropped_slow.inc();
            Next::End
        }
        Err(RecvError::Closed) => Next::End,
    }
}
