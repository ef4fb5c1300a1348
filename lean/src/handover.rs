//! hyper takes a connection over for the rest of its life, from a request that is not
//! clean, built as `axum::serve` builds it (hyper-util's auto builder: HTTP/1.1 with
//! upgrades, or HTTP/2 after its preface), with the bytes already read put back.
//!
//! The connection's [`Phase`] goes with it, and its deadline and shedding are enforced
//! here, as [`limits`](crate::limits) says, not by hyper's header timer (which would start
//! again at the hand-over, and does not cover hyper-util's protocol sniff or HTTP/2): each
//! read tells the phase that bytes came, each request hyper hands to the router is in
//! flight until hyper drops its response body, and while none is, the connection is closed
//! at its phase's deadline or when it is shed. A response that is an event stream has the
//! socket's kernel buffers bounded before it is written, as a lean stream's are
//! ([`kernel_buffers`]).

use crate::Options;
use crate::connection::{Shared, tag};
use crate::kernel_buffers::{self, BoundWhenStreaming, StreamingFlag};
use crate::limits::Phase;
use crate::reply::{Arrival, By};
use crate::rewind::Rewind;
use crate::waiting::{Waiter, Waiting};
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

/// Serves the rest of the connection with hyper, from the request at the start of `buf`.
pub async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    phase: Phase,
    shared: Arc<Shared>,
) {
    let track = Arc::new(Track { phase: watch::Sender::new(phase), options: shared.options });
    let on_read = track.clone();
    let streaming = StreamingFlag::default();
    let tcp = BoundWhenStreaming::new(tcp, streaming.clone());
    let io = Rewind::new(shared.stall_guard(tcp), buf.into(), move || on_read.read());
    let (router, metrics, tracked) = (shared.router.clone(), shared.metrics.clone(), track.clone());
    let stop = shared.stop.clone();
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let in_flight = tracked.begin();
        let mut request = request.map(Body::new);
        let arrival = Arrival { by: By::Hyper(metrics.clone()), stop: stop.clone() };
        tag(&mut request, arrival, peer);
        let (router, streaming) = (router.clone(), streaming.clone());
        async move {
            let Ok(response) = router.oneshot(request).await;
            if kernel_buffers::is_stream(&response) {
                streaming.set();
            }
            // In flight until hyper drops the body: it has written it all, or gave up.
            let body = |body: Body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &in_flight;
                    frame
                }))
            };
            Ok::<_, Infallible>(response.map(body))
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let expired = expired(track.phase.subscribe(), &shared.waiting);
    tokio::pin!(connection, expired);
    tokio::select! {
        _ = connection.as_mut() => return,
        () = expired.as_mut() => return,
        () = shared.stop.cancelled() => connection.as_mut().graceful_shutdown(),
    }
    tokio::select! {
        _ = connection => {}
        () = expired => {}
    }
}

/// The phase of a connection hyper serves, moved by its reads and its requests.
struct Track {
    phase: watch::Sender<Phase>,
    options: Options,
}

impl Track {
    /// Bytes came from the peer.
    fn read(&self) {
        self.phase.send_if_modified(|phase| {
            let before = *phase;
            *phase = before.read(Instant::now(), &self.options);
            *phase != before
        });
    }

    /// A request is in flight until the returned guard is dropped.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.phase.send_modify(|phase| *phase = phase.begin());
        InFlight(self.clone())
    }
}

/// One request in flight on a connection hyper serves.
struct InFlight(Arc<Track>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let Track { phase, options } = &*self.0;
        phase.send_modify(|phase| *phase = phase.end(Instant::now(), options));
    }
}

/// Completes when the connection must close: no request was in flight at its phase's
/// deadline, or it was shed while none was (it counts as waiting only then).
async fn expired(mut phase: watch::Receiver<Phase>, waiting: &Arc<Waiting>) {
    let mut waiter: Option<Waiter> = None;
    loop {
        let deadline = phase.borrow_and_update().deadline();
        let Some(deadline) = deadline else {
            waiter = None;
            // The sender lives as long as the connection: an error is never seen here.
            if phase.changed().await.is_err() {
                return;
            }
            continue;
        };
        let waiter = waiter.get_or_insert_with(|| waiting.enter());
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return,
            () = waiter.shed() => return,
            changed = phase.changed() => if changed.is_err() { return },
        }
    }
}
