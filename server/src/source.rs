//! Where the stream comes from: this process's own hub, or the hub shared with other
//! instances through Redis (`--redis-url`). Handlers ask a [`Source`] and never which
//! of the two it is.

use crate::config::Config;
use crate::names;
use app::event::NamesEvent;
use sse_hub::{Hub, RedisHub, RedisMetrics, RedisOptions, Subscription};
use std::num::NonZeroUsize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Events a subscriber may fall behind the live stream before its stream is ended (its
/// browser then resumes from history): bounds what a reader that stalls costs.
const SUBSCRIBER_BACKLOG: NonZeroUsize = NonZeroUsize::new(64).unwrap();

/// The stream this server sends. Cheap to clone.
#[derive(Clone)]
pub enum Source {
    /// The stream lives in this process, which generates it.
    Local(Hub<NamesEvent>),
    /// The stream is shared through Redis; the local hub is this instance's copy of it.
    Shared(RedisHub<NamesEvent>),
}

/// How the Redis-shared stream is doing, for `/healthz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedState {
    /// Whether the stream is read from Redis now.
    pub connected: bool,
    /// Whether this instance holds the lease and generates the events.
    pub leader: bool,
}

impl Source {
    /// The stream and its generator, until `stop`: in this process, or shared through Redis
    /// with `--redis-url`, where only the instance holding the lease generates.
    pub async fn start(
        config: &Config,
        stop: &CancellationToken,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let Some(url) = &config.redis_url else {
            let hub = Hub::new(config.history, SUBSCRIBER_BACKLOG);
            let publish =
                names::publish(hub.clone(), config.interval, config.max_events, stop.clone());
            return Ok((Self::Local(hub), tokio::spawn(publish)));
        };
        let options = RedisOptions {
            url: url.clone(),
            key: config.redis_key.clone(),
            lease: config.lease,
            history: config.history,
            backlog: SUBSCRIBER_BACKLOG,
            max_events: config.max_events,
        };
        let redis = RedisHub::connect(options, stop.clone()).await.map_err(|err| {
            std::io::Error::other(format!(
                "cannot reach Redis at {url} (--redis-url / LIVENAMES_REDIS_URL): {err}"
            ))
        })?;
        let make = |index| names::names_event(index, &mut rand::rng());
        let generator = tokio::spawn(redis.clone().lead(config.interval, make, stop.clone()));
        Ok((Self::Shared(redis), generator))
    }

    /// This process's hub: the stream itself, or its copy of the shared one.
    pub fn hub(&self) -> &Hub<NamesEvent> {
        match self {
            Self::Local(hub) => hub,
            Self::Shared(redis) => redis.hub(),
        }
    }

    /// Subscribes after `last_event_id` (from the start without one); `None` once the
    /// stream has ended. A shared stream looks an id outside the local history up in Redis.
    pub async fn subscribe(&self, last_event_id: Option<&str>) -> Option<Subscription> {
        match self {
            Self::Local(hub) => hub.subscribe(last_event_id),
            Self::Shared(redis) => redis.subscribe(last_event_id).await,
        }
    }

    /// How the shared stream is doing; `None` for a local one.
    pub fn shared_state(&self) -> Option<SharedState> {
        match self {
            Self::Local(_) => None,
            Self::Shared(redis) => {
                Some(SharedState { connected: redis.is_connected(), leader: redis.is_leader() })
            }
        }
    }

    /// The counters of the shared stream's Redis commands; `None` for a local stream.
    pub fn redis_metrics(&self) -> Option<&RedisMetrics> {
        match self {
            Self::Local(_) => None,
            Self::Shared(redis) => Some(redis.metrics()),
        }
    }
}
