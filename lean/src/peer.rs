//! What a stream's peer sends while its stream is written: nothing, usually; a request it
//! pipelines behind the stream, which is kept (as hyper keeps it) and answered once the
//! stream ends; or the end of the connection.

use std::io;

/// The most a peer's bytes kept while its stream runs: past it, they are no longer read
/// (the socket's buffers then hold them, as hyper stops reading too).
pub const MOST_KEPT: usize = 64 * 1024;

/// Whether the peer is still there.
#[derive(Debug, PartialEq, Eq)]
pub enum Peer {
    /// Still connected; everything it sent is in the read-ahead.
    Here,
    /// Still connected, with [`MOST_KEPT`] bytes kept: stop reading from it.
    Full,
    /// It closed or reset the connection.
    Gone,
}

/// Reads what the peer sent into `kept` with `read` (a non-blocking read of the socket),
/// until the socket has nothing more, the peer is gone, or [`MOST_KEPT`] bytes are kept.
pub fn read_into(kept: &mut Vec<u8>, mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> Peer {
    let mut scratch = [0; 4096];
    loop {
        let room = MOST_KEPT - kept.len();
        if room == 0 {
            return Peer::Full;
        }
        match read(&mut scratch[..room.min(4096)]) {
            Ok(0) => return Peer::Gone,
            Ok(n) => kept.extend_from_slice(&scratch[..n]),
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
    fn a_pipelined_request_is_kept_in_order() {
        let mut kept = b"GET /a".to_vec();
        let pieces = vec![b" HTTP/1.1\r\n".to_vec(), b"\r\n".to_vec()];
        assert_eq!(read_into(&mut kept, socket(pieces, false)), Peer::Here);
        assert_eq!(kept, b"GET /a HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn a_closed_connection_is_gone_and_a_flood_is_capped() {
        assert_eq!(read_into(&mut Vec::new(), socket(vec![b"x".to_vec()], true)), Peer::Gone);
        let mut kept = Vec::new();
        let flood = vec![vec![7; MOST_KEPT + 10]];
        assert_eq!(read_into(&mut kept, socket(flood, false)), Peer::Full);
        assert_eq!(kept.len(), MOST_KEPT);
    }
}
