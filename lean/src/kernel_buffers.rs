//! How much a lean stream may hold for a peer that reads slower than the stream.
//!
//! ## Invariant
//! The bytes of a lean stream that were handed out and that its peer has not taken yet are
//! bounded wherever they wait, whatever the peer's TCP window:
//! - in the kernel, at most twice [`SEND_BUFFER`] per socket (Linux doubles `SO_SNDBUF` for
//!   its bookkeeping, and counts the packets' overhead in it too): the writers fix every
//!   socket's send buffer ([`bound`]) before they write to it, which also stops the kernel
//!   from growing it on its own up to `tcp_wmem`'s maximum (4 MiB by default);
//! - in user space, at most the rest of one write (an HTTP chunk of up to three frames),
//!   kept while the stream waits in a task of its own ([`slow`](crate::slow));
//! - in the hub, at most its backlog of events behind the live stream, shared by every
//!   subscriber.
//!
//! So a peer that reads slower than the stream fills its socket within that many bytes, and
//! then either its socket takes nothing for the stall timeout, and the connection is reset
//! ([`reset`]: the kernel drops its queue at once) and counted as stalled, or the socket
//! takes some, and the stream, back on the writers, finds itself more than the hub's backlog
//! behind: it ends (the browser resumes from history), counted as dropped slow.
//!
//! What the peer's own receive buffer holds is its memory, not the server's: it is never
//! counted here, and it only delays the moment the server's queue fills.
//!
//! The price: Linux cannot give a socket its autotuning back, so the connection keeps the
//! fixed buffer after its stream too, and a response on it (a stream's connection seldom
//! carries another) goes out at most 32 KiB a round trip.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

/// The send buffer a lean stream's socket is given (`SO_SNDBUF`): the kernel holds at most
/// twice this for a stream, packets' overhead included. Enough for a burst of events to a
/// reader that keeps up, or for a few hundred kilobytes of replay a round trip.
pub const SEND_BUFFER: usize = 16 * 1024;

/// Fixes `tcp`'s send buffer at [`SEND_BUFFER`].
pub fn bound(tcp: &impl AsFd) -> io::Result<()> {
    socket2::SockRef::from(tcp).set_send_buffer_size(SEND_BUFFER)
}

/// Makes closing `tcp` reset the connection, so that the kernel frees what is queued for a
/// peer that stopped reading at once rather than keep trying to send it.
pub fn reset(tcp: &impl AsFd) {
    if let Err(err) = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%err, "cannot make a stalled connection's close a reset");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_socket_holds_twice_the_send_buffer_and_no_more() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        bound(&server).unwrap();
        let size = socket2::SockRef::from(&server).send_buffer_size().unwrap();
        assert_eq!(size, 2 * SEND_BUFFER);
        drop(client);
    }
}
