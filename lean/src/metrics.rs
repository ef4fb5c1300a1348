//! What an operator can see: the open streams by who writes them, the connections closed
//! because their peer stopped reading, and the largest buffer a connection held.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// Who writes a stream.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Writer {
    /// The per-thread writers: a clean `GET` on any HTTP/1.1 connection.
    Lean,
    /// hyper, as a response body: a request the writers cannot take (HTTP/1.0, a body,
    /// `Connection: close`…), or a handler outside [`serve`](crate::Lean::serve).
    Hyper,
}

impl Writer {
    /// The label's value: `lean` or `hyper`.
    pub fn as_str(self) -> &'static str {
        match self {
            Writer::Lean => "lean",
            Writer::Hyper => "hyper",
        }
    }
}

impl EncodeLabelValue for Writer {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByWriter {
    writer: Writer,
}

/// The metrics of one [`Lean`](crate::Lean). Cheap to clone: clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct StreamMetrics {
    streams: Family<ByWriter, Gauge>,
    stalled: Counter,
    /// The largest user-space buffer one connection held, allocation included: never above
    /// [`BUFFER_BUDGET`](crate::BUFFER_BUDGET).
    buffered: Gauge,
}

impl StreamMetrics {
    /// Registers `sse_streams{writer="lean"|"hyper"}`, `connections_stalled` and
    /// `connection_buffer_bytes_max` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        // Both series exist from the start, so a dashboard sees a zero, not a gap.
        for writer in [Writer::Lean, Writer::Hyper] {
            let _ = self.streams.get_or_create(&ByWriter { writer });
        }
        registry.register(
            "sse_streams",
            "Open SSE streams, by who writes them",
            self.streams.clone(),
        );
        registry.register(
            "connections_stalled",
            "Connections closed because the client stopped reading",
            self.stalled.clone(),
        );
        registry.register(
            "connection_buffer_bytes_max",
            "Largest buffer one connection held in user space, in bytes",
            self.buffered.clone(),
        );
    }

    /// The largest user-space buffer one connection has held, allocation included: at most
    /// [`BUFFER_BUDGET`](crate::BUFFER_BUDGET).
    pub fn most_buffered(&self) -> usize {
        usize::try_from(self.buffered.get()).unwrap_or(0)
    }

    /// Counts one open stream written by `writer` until the returned guard is dropped.
    pub(crate) fn open(&self, writer: Writer) -> OpenCount {
        let gauge = self.streams.get_or_create(&ByWriter { writer }).clone();
        gauge.inc();
        OpenCount(gauge)
    }

    /// Notes a connection's buffer of `bytes` (its capacity).
    pub(crate) fn buffered(&self, bytes: usize) {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.buffered.inner().fetch_max(bytes, Ordering::Relaxed);
    }

    /// Counts a connection closed because a write stalled.
    pub(crate) fn stalled(&self) -> &Counter {
        &self.stalled
    }
}

/// One open stream in [`StreamMetrics`], counted until dropped.
#[derive(Debug)]
pub(crate) struct OpenCount(Gauge);

impl Drop for OpenCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}
