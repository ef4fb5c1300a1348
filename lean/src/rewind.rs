//! A socket that first gives back bytes already read from it, so that hyper can take over
//! a connection in the middle of its buffer, and tells each read from the socket that
//! brought bytes (so that the connection's phase moves with what hyper reads).

use bytes::{Buf, Bytes};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io`, whose reads give `read` first, and then call `on_read` each time they bring bytes.
pub struct Rewind<T, F> {
    read: Bytes,
    io: T,
    on_read: F,
}

impl<T, F: Fn()> Rewind<T, F> {
    pub fn new(io: T, read: Bytes, on_read: F) -> Self {
        Self { read, io, on_read }
    }
}

impl<T: AsyncRead + Unpin, F: Fn() + Unpin> AsyncRead for Rewind<T, F> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.read.is_empty() {
            let before = buf.filled().len();
            let read = ready!(Pin::new(&mut self.io).poll_read(cx, buf));
            if buf.filled().len() > before {
                (self.on_read)();
            }
            return Poll::Ready(read);
        }
        let n = self.read.len().min(buf.remaining());
        buf.put_slice(&self.read[..n]);
        self.read.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin, F: Unpin> AsyncWrite for Rewind<T, F> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn rewind_gives_back_what_was_read_first_and_tells_each_read_from_the_socket() {
        let (near, mut far) = tokio::io::duplex(64);
        far.write_all(b" world").await.unwrap();
        let reads = AtomicUsize::new(0);
        let on_read = || {
            reads.fetch_add(1, Ordering::Relaxed);
        };
        let mut rewound = Rewind::new(near, Bytes::from_static(b"hello"), on_read);
        let mut text = [0; 11];
        rewound.read_exact(&mut text).await.unwrap();
        assert_eq!(&text, b"hello world");
        assert_eq!(reads.load(Ordering::Relaxed), 1, "the socket's read, not the rewound bytes");
        drop(far);
        assert_eq!(rewound.read(&mut text).await.unwrap(), 0);
        assert_eq!(reads.load(Ordering::Relaxed), 1, "the end brings no bytes");
    }
}
