//! Operations endpoints: `GET /healthz` for probes and `GET /metrics` for Prometheus.

use crate::AppState;
use crate::connections::StreamSlots;
use crate::source::Source;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use serde::Serialize;
use sse_lean::StreamMetrics;

/// The content type of prometheus-client's text encoding, which Prometheus scrapes as is.
const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What `GET /healthz` answers.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok`, or `degraded` while Redis (`--redis-url`) is unreachable: the instance still
    /// serves its subscribers (heartbeats, resumes from its own history) but gets no events.
    pub status: &'static str,
    /// With `--redis-url`: `ok` or `degraded`, whether the stream is read from Redis now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
    /// With `--redis-url`: whether this instance holds the lease and generates the events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<bool>,
    /// Open subscriber streams.
    pub subscribers: i64,
    /// The id of the latest event, `null` before the first one.
    pub last_event_id: Option<String>,
}

/// `GET /healthz`: `200` with the subscriber count and the latest event's id, also when
/// degraded: a load balancer should keep an instance whose subscribers are still served.
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    let shared = state.source.shared_state();
    let redis = shared.map(|shared| if shared.connected { "ok" } else { "degraded" });
    let hub = state.source.hub();
    Json(Health {
        status: redis.unwrap_or("ok"),
        redis,
        leader: shared.map(|shared| shared.leader),
        subscribers: hub.metrics().subscribers.get(),
        last_event_id: hub.latest().map(|(id, _)| id.to_string()),
    })
}

/// `GET /metrics`: every series of this server's registry in the OpenMetrics text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = String::new();
    match encode(&mut text, &state.metrics) {
        Ok(()) => ([(CONTENT_TYPE, OPENMETRICS_TEXT)], text).into_response(),
        Err(err) => {
            tracing::error!("cannot encode the metrics: {err}");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the metrics").into_response()
        }
    }
}

/// This server's registry: the hub's series and the stream slots', prefixed `livenames_sse_`,
/// the connection layer's (open streams by writer, stalled connections),
/// and with `--redis-url` Redis's, prefixed `livenames_redis_`.
/// One per server, never global, so several servers in one process keep separate counts.
pub fn registry(source: &Source, slots: &StreamSlots, lean: &StreamMetrics) -> Registry {
    let mut registry = Registry::with_prefix("livenames");
    let sse = registry.sub_registry_with_prefix("sse");
    source.hub().metrics().register(sse);
    slots.register(sse);
    if let Some(redis) = source.redis_metrics() {
        redis.register(registry.sub_registry_with_prefix("redis"));
    }
    lean.register(&mut registry);
    registry
}
