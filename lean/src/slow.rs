//! A stream that leaves the writers gets a task of its own, which writes the rest of it
//! under the stall guard: what its socket did not take, then every frame as it comes, then
//! its last chunk, and gives its connection back for the next request.

use crate::fanout::{Leaving, Subscriber};
use crate::peer::{self, Peer};
use crate::reply::Held;
use crate::stall::StallGuard;
use crate::wire::{self, LAST_CHUNK, SizeLine};
use prometheus_client::metrics::counter::Counter;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// A connection whose stream is over: ready for its next request, whose first bytes (if
/// the peer sent them during the stream) are `kept`.
pub struct Ended {
    pub tcp: TcpStream,
    pub peer: SocketAddr,
    pub kept: Vec<u8>,
}

/// Writes the rest of `leaving`; `None` when the peer left, or stopped reading for
/// `stall_timeout` (counted in `stalled`), before the stream was over.
pub async fn write_rest(
    leaving: Leaving,
    stall_timeout: Duration,
    stalled: Counter,
) -> Option<Ended> {
    let Leaving { tcp, unsent, subscriber } = leaving;
    let tcp = match TcpStream::from_std(tcp) {
        Ok(tcp) => StallGuard::new(tcp, stall_timeout, stalled),
        Err(err) => {
            let peer = subscriber.peer;
            tracing::warn!(%err, %peer, "cannot wait for a stream's socket");
            return None;
        }
    };
    let Subscriber { held: Held { mut delivery, guard }, peer, kept, counted } = subscriber;
    let mut written = Writing { tcp, kept, watched: true };
    written.all(&[&unsent]).await?;
    drop(unsent);
    loop {
        let frames = tokio::select! {
            biased;
            here = written.read_peer(), if written.watched => { here?; continue }
            frames = delivery.next() => frames,
        };
        let Some(frames) = frames else { break };
        let mut size = SizeLine::default();
        written.all(&wire::chunk(&mut size, &frames)).await?;
    }
    written.all(&[LAST_CHUNK]).await?;
    // The stream is over: what it held is released before the connection's next request.
    drop((delivery, guard, counted));
    Some(Ended { tcp: written.tcp.into_inner(), peer, kept: written.kept })
}

/// A stream's socket while its task writes, and what its peer sent meanwhile.
struct Writing {
    tcp: StallGuard<TcpStream>,
    kept: Vec<u8>,
    /// Whether the peer is still read: not once [`peer::MOST_KEPT`] bytes are kept.
    watched: bool,
}

impl Writing {
    /// Writes `parts` whole; `None` if the peer is gone or stopped reading.
    async fn all(&mut self, parts: &[&[u8]]) -> Option<()> {
        wire::write_all(&mut self.tcp, parts).await.ok()
    }

    /// Waits until the peer sends something, and keeps it: `None` once it has left.
    async fn read_peer(&mut self) -> Option<()> {
        let tcp = self.tcp.get_ref();
        // poll_read_ready keeps one waker in the socket, where readable() would queue a
        // waiter each time it is called: this runs once per event.
        std::future::poll_fn(|cx| tcp.poll_read_ready(cx)).await.ok()?;
        match peer::read_into(&mut self.kept, |buf| tcp.try_read(buf)) {
            Peer::Here => Some(()),
            Peer::Full => {
                self.watched = false;
                Some(())
            }
            Peer::Gone => None,
        }
    }
}
