//! The bytes of a lean stream's HTTP/1.1 response: the hub's frames,
//! one HTTP chunk per write, and the writes themselves, waiting ([`write_all`]) or not
//! ([`try_write_all`]).

use axum::http::HeaderValue;
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::response::Response;
use sse_hub::Frames;
use std::io::{self, IoSlice, Write};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The head of a lean stream's response: the router's status and headers, framed in
/// chunks, with `date` last, as hyper writes a streaming body's head to an HTTP/1.1 request.
pub fn stream_head(response: Response) -> Vec<u8> {
    let (parts, _empty) = response.into_parts();
    let mut headers = parts.headers;
    // The body is the chunks the writers write, not the router's empty one.
    headers.remove(CONTENT_LENGTH);
    headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    let reason = parts.status.canonical_reason().unwrap_or("");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", parts.status.as_u16()).into_bytes();
    for (name, value) in &headers {
        head.extend_from_slice(
            &[name.as_str().as_bytes(), b": ", value.as_bytes(), b"\r\n"].concat(),
        );
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    head.extend_from_slice(format!("date: {date}\r\n\r\n").as_bytes());
    head
}

/// The most parts one write takes: a chunk's size line, three frames, and its CRLF.
pub const MAX_PARTS: usize = 5;

/// The chunk that ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Room for a chunk's size line: 16 hex digits and CRLF.
pub type SizeLine = [u8; 18];

/// `frames` as one HTTP chunk: its size line (written into `size`), the frames, CRLF.
/// Unused parts are empty.
pub fn chunk<'a>(size: &'a mut SizeLine, frames: &'a Frames) -> [&'a [u8]; MAX_PARTS] {
    let mut parts: [&[u8]; MAX_PARTS] =
        [size_line(size, frames.byte_len()), &[], &[], &[], b"\r\n"];
    for (part, frame) in parts[1..].iter_mut().zip(frames.as_slice()) {
        *part = frame;
    }
    parts
}

/// `<len in hex>\r\n`, the line that starts an HTTP chunk, written into `buf`.
fn size_line(buf: &mut SizeLine, len: usize) -> &[u8] {
    let mut cursor = io::Cursor::new(&mut buf[..]);
    // 16 hex digits and CRLF always fit.
    let _ = write!(cursor, "{len:x}\r\n");
    let end = cursor.position() as usize;
    &buf[..end]
}

/// The non-empty `parts` (at most [`MAX_PARTS`]) as the slices of one `writev`, without
/// allocating: with nothing to write, nothing is written (a socket that takes no bytes of
/// an empty write would look closed).
fn io_slices<'a>(parts: &[&'a [u8]]) -> ([IoSlice<'a>; MAX_PARTS], usize) {
    let mut slices = [IoSlice::new(&[]); MAX_PARTS];
    let mut len = 0;
    for part in parts.iter().filter(|part| !part.is_empty()).take(MAX_PARTS) {
        slices[len] = IoSlice::new(part);
        len += 1;
    }
    (slices, len)
}

/// Writes every byte of `parts`, in as few `writev` calls as the socket allows.
pub async fn write_all<W: AsyncWrite + Unpin>(io: &mut W, parts: &[&[u8]]) -> io::Result<()> {
    let (mut slices, len) = io_slices(parts);
    let mut slices = &mut slices[..len];
    while !slices.is_empty() {
        let written = io.write_vectored(slices).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, written);
    }
    Ok(())
}

/// Writes `parts` to a non-blocking socket as far as it takes them without waiting: `None`
/// when all went, or the bytes it could not take (copied, as they must wait).
pub fn try_write_all(mut socket: impl Write, parts: &[&[u8]]) -> io::Result<Option<Vec<u8>>> {
    let (mut slices, len) = io_slices(parts);
    let mut slices = &mut slices[..len];
    while !slices.is_empty() {
        match socket.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                return Ok(Some(slices.iter().flat_map(|slice| slice.iter().copied()).collect()));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_are_hex_lines() {
        let mut buf = [0; 18];
        assert_eq!(size_line(&mut buf, 0), b"0\r\n");
        assert_eq!(size_line(&mut buf, 423), b"1a7\r\n");
        assert_eq!(size_line(&mut buf, usize::MAX), b"ffffffffffffffff\r\n");
    }

    /// A socket that takes `room` more bytes, then would block.
    struct Full {
        taken: Vec<u8>,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.taken.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn what_a_full_socket_cannot_take_is_handed_back_in_order() {
        let parts: [&[u8]; 3] = [b"abc", b"defg", b"hi"];
        let mut roomy = Full { taken: Vec::new(), room: 100 };
        assert_eq!(try_write_all(&mut roomy, &parts).unwrap(), None);
        assert_eq!(roomy.taken, b"abcdefghi");
        let mut full = Full { taken: Vec::new(), room: 5 };
        assert_eq!(try_write_all(&mut full, &parts).unwrap().as_deref(), Some(&b"fghi"[..]));
        assert_eq!(full.taken, b"abcde");
    }

    #[tokio::test]
    async fn nothing_to_write_is_done_at_once() {
        let mut full = Full { taken: Vec::new(), room: 0 };
        assert_eq!(try_write_all(&mut full, &[b"", b""]).unwrap(), None);
        let mut taken = Vec::new();
        write_all(&mut taken, &[b"", b"ab", b"", b"c"]).await.unwrap();
        write_all(&mut taken, &[b""]).await.unwrap();
        assert_eq!(taken, b"abc");
    }
}
