//! A flooding peer (`load --flooders`): it opens the stream as a subscriber does, then sends
//! bytes for as long as the server takes them, reading and discarding its own stream, so
//! that a run can show whether the other streams on its writer wait for it.

use super::target::Target;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes sent in one write of the flood: what follows the stream's request on its
/// connection, as a peer may pipeline (a server reads it as the next request's head).
const PIECE: [u8; 16 * 1024] = [b'x'; 16 * 1024];

/// Floods the target's stream until the task is dropped or the connection ends, counting
/// the bytes the server's socket took in `sent`.
pub async fn flood(target: Arc<Target>, sent: Arc<AtomicU64>) {
    let Ok(tcp) = TcpStream::connect(target.addr).await else {
        return eprintln!("sse-load: a flooder could not connect");
    };
    let (reader, writer) = tcp.into_split();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        target.path,
        target.host_header()
    );
    let _ = tokio::try_join!(send(writer, request, &sent), discard(reader));
}

/// Sends `request`, then bytes without end.
async fn send(mut writer: OwnedWriteHalf, request: String, sent: &AtomicU64) -> io::Result<()> {
    writer.write_all(request.as_bytes()).await?;
    loop {
        writer.write_all(&PIECE).await?;
        sent.fetch_add(PIECE.len() as u64, Ordering::Relaxed);
    }
}

/// Reads the stream and throws it away.
async fn discard(mut reader: OwnedReadHalf) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    while reader.read(&mut buf).await? > 0 {}
    Ok(())
}
