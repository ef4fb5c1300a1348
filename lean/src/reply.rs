//! The handler's side: [`Reply`] answers a `GET` with a hub's stream, written by the lean
//! writers when the request came through [`serve`](crate::Lean::serve) on a connection they
//! can take, and as an ordinary hyper body otherwise.

use crate::metrics::{OpenCount, StreamMetrics, Writer};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;
use sse_hub::{Delivery, Hub, LastEventId, SSE_HEADERS, StreamOptions, sse_response};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// How a request reached the handler, put in its extensions by [`serve`](crate::Lean::serve).
#[derive(Clone, Debug)]
pub(crate) struct Arrival {
    pub by: By,
    /// Cancelled when the server shuts down: every stream it serves ends then.
    pub stop: CancellationToken,
}

/// Who can write a stream for the request.
#[derive(Clone, Debug)]
pub(crate) enum By {
    /// A clean `GET` whose connection the lean writers can take: the answer is carried out
    /// of the router in a [`LeanStream`], and the connection layer writes it.
    Lean,
    /// Any other request `serve` handed to hyper (a body, HTTP/1.0, `Connection: close`…).
    Hyper(StreamMetrics),
}

/// The way to answer a `GET` with a stream: an extractor that never fails.
///
/// ```
/// use axum::{extract::State, response::Response};
/// use sse_lean::{Hub, LastEventId, Reply, StreamOptions};
///
/// async fn events(State(hub): State<Hub<String>>, last: LastEventId, reply: Reply) -> Response {
///     reply.subscribe(&hub, last, StreamOptions::default())
/// }
/// ```
///
/// Under [`Lean::serve`](crate::Lean::serve), the stream ends by itself when the server
/// shuts down; under any other server (`axum::serve`), it is an ordinary response body,
/// ended by [`StreamOptions::stop`].
#[derive(Debug)]
pub struct Reply(Option<Arrival>);

impl<S: Send + Sync> FromRequestParts<S> for Reply {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.extensions.get::<Arrival>().cloned()))
    }
}

/// A stream to write, held until it ends: its delivery and whatever the handler wants
/// dropped at the end (a connection slot, a log line).
pub(crate) struct Held {
    pub delivery: Delivery,
    pub guard: Box<dyn Send + Sync>,
}

/// The stream of a lean reply, carried out of the router in the response's extensions
/// (which must be `Clone`, hence the shared slot taken once).
#[derive(Clone)]
pub(crate) struct LeanStream(Arc<Mutex<Option<Held>>>);

impl LeanStream {
    /// The stream in `response`, if the handler made a lean reply.
    pub fn take(response: &mut Response) -> Option<Held> {
        let Self(slot) = response.extensions_mut().remove::<Self>()?;
        let mut slot = slot.lock().unwrap_or_else(|poison| poison.into_inner());
        slot.take()
    }
}

impl Reply {
    /// Subscribes to `hub` from where the client left off and answers with the stream, or
    /// with `204 No Content` once the hub is closed (which stops an EventSource for good).
    pub fn subscribe<T: Serialize>(
        self,
        hub: &Hub<T>,
        LastEventId(last_event_id): LastEventId,
        options: StreamOptions,
    ) -> Response {
        match hub.subscribe(last_event_id.as_deref()) {
            Some(subscription) => self.stream(subscription.into_delivery(options), ()),
            None => StatusCode::NO_CONTENT.into_response(),
        }
    }

    /// A `200 text/event-stream` response that writes every frame of `delivery`, then drops
    /// `guard`: when the stream ends, the peer leaves, a write stalls, or at shutdown. The
    /// guard is the hook for what must happen at a stream's end (a connection slot freed,
    /// a log line): `tower_http`'s `TraceLayer` sees a lean stream's response, but not its
    /// end, as the stream's body never passes through the layers.
    pub fn stream(self, delivery: Delivery, guard: impl Send + Sync + 'static) -> Response {
        let Some(Arrival { by, stop }) = self.0 else {
            return hyper_body(Held { delivery, guard: Box::new(guard) }, None);
        };
        let held = Held { delivery: delivery.end_on(stop), guard: Box::new(guard) };
        match by {
            By::Lean => {
                let mut response = SSE_HEADERS.into_response();
                response.extensions_mut().insert(LeanStream(Arc::new(Mutex::new(Some(held)))));
                response
            }
            By::Hyper(metrics) => hyper_body(held, Some(metrics.open(Writer::Hyper))),
        }
    }
}

/// `held` as an ordinary response body, holding its guards for as long as hyper holds it.
fn hyper_body(held: Held, counted: Option<OpenCount>) -> Response {
    let Held { delivery, guard } = held;
    let body = delivery.into_body().map(move |frame| {
        let _held = (&guard, &counted);
        frame
    });
    sse_response(body)
}
