//! What an operator can see: the open streams by who writes them, and the connections
//! closed because their peer stopped reading.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::fmt::Write;

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
}

impl StreamMetrics {
    /// Registers `sse_streams{writer="lean"|"hyper"}` and `connections_stalled` in `registry`.
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
    }

    /// Counts one open stream written by `writer` until the returned guard is dropped.
    pub(crate) fn open(&self, writer: Writer) -> OpenCount {
        let gauge = self.streams.get_or_create(&ByWriter { writer }).clone();
        gauge.inc();
        OpenCount(gauge)
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
