//! The handler's side: [`Reply`] answers a `GET /sse` with a hub's [`Delivery`], written by
//! the lean writers when the request came through [`serve`](crate::Lean::serve) on a connection
//! they can take, and as an ordinary hyper body otherwise.

use crate::metrics::{OpenCount, StreamMetrics, Writer};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use sse_hub::{Delivery, SSE_HEADERS, sse_response};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// How a request reached the handler, put in its extensions by [`serve`](crate::Lean::serve).
#[derive(Clone, Debug)]
pub(crate) enum Arrival {
    /// A clean `GET` whose connection the lean writers can take: the answer is carried out
    /// of the router in a [`LeanStream`], and the connection layer writes it.
    Lean,
    /// Any other request `serve` handed to hyper (a body, HTTP/1.0, `Connection: close`…).
    Hyper(StreamMetrics),
}

/// The way to answer a `GET /sse` with a stream: an extractor that never fails.
///
/// ```no_run
/// use axum::response::Response;
/// use sse_hub::{Hub, StreamOptions};
///
/// async fn sse(axum::extract::State(hub): axum::extract::State<Hub<String>>, reply: sse_lean::Reply) -> Response {
///     let options = StreamOptions {
///         retry: std::time::Duration::from_secs(3),
///         heartbeat: std::time::Duration::from_secs(15),
///         limit: None,
///         stop: Default::default(),
///     };
///     let subscription = hub.subscribe(None).expect("the stream is open");
///     reply.stream(subscription.into_delivery(options), ())
/// }
/// ```
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
    /// A `200 text/event-stream` response that writes every frame of `delivery`, then drops
    /// `guard`: when the stream ends, the peer leaves, a write stalls, or at shutdown.
    pub fn stream(self, delivery: Delivery, guard: impl Send + Sync + 'static) -> Response {
        let held = Held { delivery, guard: Box::new(guard) };
        match self.0 {
            Some(Arrival::Lean) => {
                let mut response = SSE_HEADERS.into_response();
                response.extensions_mut().insert(LeanStream(Arc::new(Mutex::new(Some(held)))));
                response
            }
            Some(Arrival::Hyper(metrics)) => hyper_body(held, Some(metrics.open(Writer::Hyper))),
            None => hyper_body(held, None),
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
