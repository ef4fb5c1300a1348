//! What a stream's peer sends while its stream is written: nothing, usually; the start of a
//! request it pipelines behind the stream, which is kept and answered once the stream
//! ends; or the end of the connection.
//!
//! As hyper does while it writes a response, the socket is read only while nothing of a
//! next request is kept: once something is, it is not read again until the stream ends,
//! and the kernel's buffers hold the rest. So a peer cannot make its stream hold more than
//! one read (within [`BUFFER_BUDGET`](crate::limits::BUFFER_BUDGET)), nor end it by
//! half-closing behind a pipelined request: that FIN, or a reset, is read by the
//! connection after the stream, as hyper reads it.

use crate::limits;
use std::io;

/// The most read from a stream's peer at once.
const READ_AT_ONCE: usize = 4096;

/// Whether the peer is still there.
#[derive(Debug, PartialEq, Eq)]
pub enum Peer {
    /// Still connected, and nothing kept: keep watching it.
    Here,
    /// The start of its next request is kept: stop reading from it until the stream ends.
    Kept,
    /// It closed or reset the connection, with nothing pipelined.
    Gone,
}

/// Reads what the peer sent into `kept` with `read` (a non-blocking read of the socket),
/// unless something is kept already.
pub fn read_into(kept: &mut Vec<u8>, mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> Peer {
    if !kept.is_empty() {
        return Peer::Kept;
    }
    let mut scratch = [0; READ_AT_ONCE];
    let room = limits::room(kept.len(), READ_AT_ONCE);
    loop {
        match read(scratch.get_mut(..room).unwrap_or_default()) {
            Ok(0) => return Peer::Gone,
            Ok(n) => {
                let arrived = scratch.get(..n).unwrap_or_default();
                limits::reserve(kept, arrived.len());
                kept.extend_from_slice(arrived);
                return Peer::Kept;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Peer::Here,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Peer::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that gives `pieces` in turn, then would block (or, with `then_eof`, ends).
    fn socket(
        mut pieces: Vec<Vec<u8>>,
        then_eof: bool,
    ) -> impl FnMut(&mut [u8]) -> io::Result<usize> {
        pieces.reverse();
        move |buf| match pieces.pop() {
            Some(piece) => {
                let n = piece.len().min(buf.len());
                buf[..n].copy_from_slice(&piece[..n]);
                if n < piece.len() {
                    pieces.push(piece[n..].to_vec());
                }
                Ok(n)
            }
            None if then_eof => Ok(0),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    #[test]
    fn a_pipelined_request_is_kept_and_the_peer_not_read_again() {
        let mut kept = Vec::new();
        let pieces = vec![b"GET /a HTTP/1.1\r\n".to_vec(), b"\r\n".to_vec()];
        assert_eq!(read_into(&mut kept, socket(pieces, false)), Peer::Kept);
        assert_eq!(kept, b"GET /a HTTP/1.1\r\n");
        let unread = vec![b"\r\n".to_vec()];
        assert_eq!(read_into(&mut kept, socket(unread, true)), Peer::Kept, "not read, not gone");
        assert_eq!(kept, b"GET /a HTTP/1.1\r\n");
    }

    #[test]
    fn a_half_close_behind_a_pipelined_request_is_not_the_peer_leaving() {
        let mut kept = Vec::new();
        let request_then_fin = socket(vec![b"GET /a HTTP/1.1\r\n\r\n".to_vec()], true);
        assert_eq!(read_into(&mut kept, request_then_fin), Peer::Kept);
        let mut read_ahead = b"GET /b".to_vec();
        assert_eq!(read_into(&mut read_ahead, socket(Vec::new(), true)), Peer::Kept);
    }

    #[test]
    fn a_peer_that_leaves_with_nothing_pipelined_is_gone_and_a_flood_is_read_once() {
        assert_eq!(read_into(&mut Vec::new(), socket(Vec::new(), true)), Peer::Gone);
        assert_eq!(read_into(&mut Vec::new(), socket(Vec::new(), false)), Peer::Here);
        let mut kept = Vec::new();
        let flood = vec![vec![7; 10 * limits::BUFFER_BUDGET]];
        assert_eq!(read_into(&mut kept, socket(flood, false)), Peer::Kept);
        assert_eq!(kept.len(), READ_AT_ONCE);
        assert!(kept.capacity() <= limits::BUFFER_BUDGET);
    }
}
