//! A stream whose socket could not take a write whole leaves the writers for a task of its
//! own, which waits, under the stall guard, until the socket has taken the rest. Then the
//! stream goes back to the writers or, if it was over, its connection goes on to its next
//! request. The writers alone write a lean stream's frames ([`pump`](crate::fanout)); this
//! task only finishes a write they started.

use crate::fanout::{Leaving, NewStream, Subscriber};
use crate::stall::StallGuard;
use crate::wire;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// Where a stream goes once its socket has taken what was left.
#[allow(clippy::large_enum_variant, reason = "one per slow write, moved once")]
pub enum Next {
    /// Back to the writers, for its next frames.
    Writers(NewStream),
    /// Its stream is over: the connection's next request.
    NextRequest(Ended),
}

/// A connection whose stream is over: ready for its next request, whose first bytes (if
/// the peer sent them during the stream) are `kept`.
pub struct Ended {
    pub tcp: TcpStream,
    pub peer: SocketAddr,
    pub kept: Vec<u8>,
}

/// Writes what `leaving`'s socket did not take, through the stall guard `guard` puts on
/// it; `None` when the peer left, or stopped reading (its connection is then reset).
pub async fn drain(
    leaving: Leaving,
    guard: impl FnOnce(TcpStream) -> StallGuard<TcpStream>,
) -> Option<Next> {
    let Leaving { tcp, unsent, subscriber, over } = leaving;
    let peer = subscriber.peer;
    let tcp = TcpStream::from_std(tcp)
        .inspect_err(|err| tracing::warn!(%err, %peer, "cannot wait for a stream's socket"))
        .ok()?;
    let mut guarded = guard(tcp);
    let written = wire::write_all(&mut guarded, &[&unsent]).await;
    let tcp = guarded.into_inner();
    if written.is_err() {
        // Stalled (the guard made the close a reset), or gone.
        return None;
    }
    if over {
        // What the stream held is released before the connection's next request.
        let Subscriber { held, peer, kept, counted } = subscriber;
        drop((held, counted));
        return Some(Next::NextRequest(Ended { tcp, peer, kept }));
    }
    let tcp = tcp
        .into_std()
        .inspect_err(|err| tracing::warn!(%err, %peer, "cannot hand a stream back to the writers"))
        .ok()?;
    Some(Next::Writers(NewStream { tcp, head: Vec::new(), subscriber }))
}
