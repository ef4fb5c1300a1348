//! The raw client: plays a [`Case`] on a socket and keeps every byte the server sent, and
//! how the connection ended. Every wait is bounded.

use crate::case::{Case, Ending, SETTLE, Step};
use crate::servers::Server;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// The most a case may take to read, and to connect.
const READ_AT_MOST: Duration = Duration::from_secs(10);
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// More than any case is answered with: past it, reading stops.
const READ_CAP: usize = 4 << 20;

/// How the connection ended, as the client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The server closed it: end of stream, or a reset (which one depends on whether the
    /// server had unread bytes when it closed, a race no case should depend on).
    Closed,
    /// Still open: nothing came for the quiet window.
    Open,
    /// The client reset it without reading.
    NotRead,
    /// More than `READ_CAP` bytes, or still sending after `READ_AT_MOST`.
    TooMuch,
}

/// What the server sent.
pub struct Received {
    pub bytes: Vec<u8>,
    pub end: End,
}

/// Plays `case` against `server`, then reads until the connection ends or stays quiet for
/// `quiet`.
pub fn play(case: &Case, server: &Server, quiet: Duration) -> Received {
    let mut stream =
        TcpStream::connect_timeout(&server.addr, CONNECT_WITHIN).expect("connects to loopback");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    for step in &case.steps {
        match step {
            // A server that closed early refuses the rest: the answer is what it sent.
            Step::Send(bytes) => {
                if stream.write_all(bytes).is_err() {
                    break;
                }
            }
            Step::Pause(pause) => std::thread::sleep(*pause),
            Step::Publish => {
                server.hub.publish(|index| format!("event {index}"));
            }
            // Fails only when the server already reset the connection: reading says so.
            Step::HalfClose => {
                let _ = stream.shutdown(Shutdown::Write);
            }
        }
    }
    match case.ending {
        Ending::Read => read_all(stream, quiet),
        Ending::HalfClose => {
            std::thread::sleep(SETTLE);
            // Fails only when the server already reset the connection: then reading says so.
            let _ = stream.shutdown(Shutdown::Write);
            read_all(stream, quiet)
        }
        Ending::Reset => {
            socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).expect("SO_LINGER");
            drop(stream);
            Received { bytes: Vec::new(), end: End::NotRead }
        }
    }
}

fn read_all(mut stream: TcpStream, quiet: Duration) -> Received {
    stream.set_read_timeout(Some(quiet)).expect("a read timeout");
    let deadline = Instant::now() + READ_AT_MOST;
    let mut bytes = Vec::new();
    let mut buffer = [0; 64 * 1024];
    let end = loop {
        if bytes.len() > READ_CAP || Instant::now() > deadline {
            break End::TooMuch;
        }
        match stream.read(&mut buffer) {
            Ok(0) => break End::Closed,
            Ok(read) => bytes.extend_from_slice(&buffer[..read]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break End::Open;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => break End::Closed,
        }
    };
    Received { bytes, end }
}
