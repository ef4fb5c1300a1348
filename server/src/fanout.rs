//! The fast path's writers: one task per runtime thread holds the `/sse` streams that keep
//! up, and on each event writes it to all of them in one pass, one non-blocking `writev`
//! per stream, with no task, timer or waker per stream: the loop the bench's floor runs,
//! plus the `Delivery` that decides each stream's bytes.
//!
//! A stream whose socket cannot take a write whole leaves for a task of its own
//! ([`SlowStreams`]), where it waits under the stall guard; one that ends, or whose peer
//! leaves, is closed here. Each writer watches its sockets for peers leaving through an
//! epoll set of its own (`mio::Poll`), which the runtime watches as one file, so a stream
//! costs the runtime nothing: a slab entry here, and its `Delivery`.

use crate::connections::OpenStream;
use crate::fast_sse::SlowStreams;
use crate::wire::{self, LAST_CHUNK, SizeLine};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;
use sse_hub::{Delivery, Doorbell, Hub, TryNext};
use std::io::{self, Read};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Streams written between two yields to the runtime, so that a pass over thousands of
/// streams does not hold up the thread's other tasks (page requests) for its whole length.
const STREAMS_PER_TURN: usize = 128;
/// Peers' events taken from the writer's epoll set at once.
const EVENTS_PER_POLL: usize = 256;
/// The most a peer may send on a stream at once (it has nothing to say): more is an abuse,
/// and its stream is closed.
const MOST_READ_PER_WAKE: usize = 64 * 1024;
/// The slab is compacted once less than this share of it is used: memory comes back after
/// a crowd leaves.
const COMPACT_BELOW: usize = 4;

/// A stream the router decided on: its socket, its response head, and its delivery.
pub struct NewStream {
    pub tcp: std::net::TcpStream,
    pub head: String,
    pub delivery: Delivery,
    pub open: OpenStream,
}

/// The writers, one per runtime thread; new streams go to each in turn.
pub struct Writers {
    inboxes: Vec<mpsc::UnboundedSender<NewStream>>,
    next: AtomicUsize,
}

impl Writers {
    /// Starts one writer per runtime thread, each woken by `hub`'s doorbell, until `stop`;
    /// streams that cannot keep up go to `slow`, whose task tracker also holds the writers.
    pub fn start<T: serde::Serialize>(
        hub: &Hub<T>,
        slow: SlowStreams,
        stop: &CancellationToken,
    ) -> io::Result<Self> {
        let threads = tokio::runtime::Handle::current().metrics().num_workers();
        let mut inboxes = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (inbox, received) = mpsc::unbounded_channel();
            let writer = Writer::new(received, hub.doorbell(), slow.clone(), stop.clone())?;
            slow.tasks.spawn(writer.run());
            inboxes.push(inbox);
        }
        Ok(Self { inboxes, next: AtomicUsize::new(0) })
    }

    /// Hands `stream` to the next writer; it writes the head, then the events.
    pub fn adopt(&self, stream: NewStream) {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.inboxes.len();
        // A writer is gone only at shutdown: the stream is then dropped, and closed.
        let _ = self.inboxes[turn].send(stream);
    }
}

/// One stream held by a writer.
struct Stream {
    tcp: TcpStream,
    delivery: Delivery,
    open: OpenStream,
}

/// How far one stream got in a pass.
enum Pumped {
    /// Everything ready was written: the stream waits for the next event or its ping.
    Idle,
    /// The stream is over: the last chunk goes, and the connection closes.
    Finished,
    /// The socket took only part: these bytes, and the rest of the stream, must wait.
    Blocked(Vec<u8>),
    /// The peer is gone (the write failed).
    Gone,
}

struct Writer {
    streams: Slab<Stream>,
    inbox: mpsc::UnboundedReceiver<NewStream>,
    doorbell: Doorbell,
    /// The sockets' epoll set, readable when a peer sent something or left.
    peers: AsyncFd<Poll>,
    registry: Registry,
    events: Events,
    /// The earliest ping due among the idle streams.
    next_ping: Option<Instant>,
    slow: SlowStreams,
    stop: CancellationToken,
}

impl Writer {
    fn new(
        inbox: mpsc::UnboundedReceiver<NewStream>,
        doorbell: Doorbell,
        slow: SlowStreams,
        stop: CancellationToken,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        // SAFETY: a `mio::Poll` owns its epoll file for its whole life and always reports
        // that same descriptor, and the `AsyncFd` owns the `Poll`.
        let peers =
            unsafe { AsyncFd::register_with_interest(poll, tokio::io::Interest::READABLE) }?;
        Ok(Self {
            streams: Slab::new(),
            inbox,
            doorbell,
            peers,
            registry,
            events: Events::with_capacity(EVENTS_PER_POLL),
            next_ping: None,
            slow,
            stop,
        })
    }

    async fn run(mut self) {
        let ping = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(ping);
        loop {
            if let Some(due) = self.next_ping.filter(|due| *due != ping.deadline()) {
                ping.as_mut().reset(due);
            }
            tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                Some(stream) = self.inbox.recv() => self.adopt(stream),
                () = self.doorbell.rung() => self.write_ready().await,
                ready = self.peers.readable_mut() => match ready {
                    Ok(mut ready) => {
                        ready.clear_ready();
                        self.reap_departed();
                    }
                    Err(err) => tracing::error!(%err, "cannot watch the streams' peers"),
                },
                () = &mut ping, if self.next_ping.is_some() => self.write_ready().await,
            }
        }
        // Every delivery now sees the stop and ends: each stream gets its last chunk.
        self.write_ready().await;
    }

    /// Registers a new stream, and writes its head and whatever it has ready.
    fn adopt(&mut self, new: NewStream) {
        let NewStream { tcp, head, delivery, open } = new;
        let entry = self.streams.vacant_entry();
        let mut tcp = TcpStream::from_std(tcp);
        if let Err(err) = self.registry.register(&mut tcp, Token(entry.key()), Interest::READABLE) {
            tracing::warn!(%err, peer = %open.peer(), "cannot watch a stream's socket; closing it");
            return;
        }
        let key = entry.key();
        entry.insert(Stream { tcp, delivery, open });
        let stream = &mut self.streams[key];
        let pumped = match wire::try_write_all(&stream.tcp, &[head.as_bytes()]) {
            Ok(None) => pump(stream),
            Ok(Some(unsent)) => Pumped::Blocked(unsent),
            Err(_) => Pumped::Gone,
        };
        self.settle(key, pumped);
    }

    /// Writes whatever each stream has ready (events, pings, the end), yielding now and
    /// then, and notes the next ping due.
    async fn write_ready(&mut self) {
        self.next_ping = None;
        for key in 0..self.streams.capacity() {
            let Some(stream) = self.streams.get_mut(key) else { continue };
            let pumped = pump(stream);
            self.settle(key, pumped);
            if key % STREAMS_PER_TURN == STREAMS_PER_TURN - 1 {
                tokio::task::yield_now().await;
            }
        }
        self.compact_if_sparse();
    }

    /// Acts on how far the stream at `key` got.
    fn settle(&mut self, key: usize, pumped: Pumped) {
        match pumped {
            Pumped::Idle => {
                let due = self.streams[key].delivery.ping_due();
                self.next_ping = Some(self.next_ping.map_or(due, |next| next.min(due)));
            }
            Pumped::Finished => {
                let stream = self.release(key);
                // Best effort: a socket too full for 5 more bytes is closed all the same.
                let _ = wire::try_write_all(&stream.tcp, &[LAST_CHUNK]);
                let _ = stream.tcp.shutdown(Shutdown::Write);
            }
            Pumped::Blocked(unsent) => {
                let Stream { tcp, delivery, open } = self.release(key);
                self.slow.spawn(tcp.into(), unsent, delivery, open);
            }
            Pumped::Gone => drop(self.release(key)),
        }
    }

    /// Takes the stream at `key` out of this writer.
    fn release(&mut self, key: usize) -> Stream {
        let mut stream = self.streams.remove(key);
        if let Err(err) = self.registry.deregister(&mut stream.tcp) {
            tracing::debug!(%err, "deregistering a stream's socket");
        }
        stream
    }

    /// Closes the streams whose peers left (or sent more than a stream's peer may).
    fn reap_departed(&mut self) {
        loop {
            let poll = self.peers.get_mut();
            if let Err(err) = poll.poll(&mut self.events, Some(Duration::ZERO)) {
                return tracing::error!(%err, "cannot read the streams' peers' events");
            }
            let departed: Vec<usize> = (self.events.iter())
                .map(|event| event.token().0)
                .filter(|key| self.streams.get(*key).is_some_and(|s| peer_departed(&s.tcp)))
                .collect();
            let more = self.events.iter().count() == EVENTS_PER_POLL;
            for key in departed {
                drop(self.release(key));
            }
            if !more {
                break;
            }
        }
        self.compact_if_sparse();
    }

    /// Gives memory back once most streams have left: the slab moves its streams to the
    /// lowest keys (their sockets' tokens follow) and shrinks.
    fn compact_if_sparse(&mut self) {
        if self.streams.len() * COMPACT_BELOW >= self.streams.capacity() {
            return;
        }
        let registry = &self.registry;
        self.streams.compact(|stream, _from, to| {
            registry.reregister(&mut stream.tcp, Token(to), Interest::READABLE).is_ok()
        });
    }
}

/// Writes everything `stream`'s delivery has ready, each event as one chunk.
fn pump(stream: &mut Stream) -> Pumped {
    loop {
        let frames = match stream.delivery.try_next() {
            TryNext::Frames(frames) => frames,
            TryNext::Empty => return Pumped::Idle,
            TryNext::Finished => return Pumped::Finished,
        };
        let mut size = SizeLine::default();
        match wire::try_write_all(&stream.tcp, &wire::chunk(&mut size, &frames)) {
            Ok(None) => {}
            Ok(Some(unsent)) => return Pumped::Blocked(unsent),
            Err(_) => return Pumped::Gone,
        }
    }
}

/// Reads what the peer sent (and ignores it): `true` once it has closed or reset the
/// connection, or sent more than a stream's peer may.
fn peer_departed(mut tcp: &TcpStream) -> bool {
    let mut scratch = [0; 4096];
    let mut read = 0;
    while read < MOST_READ_PER_WAKE {
        match tcp.read(&mut scratch) {
            Ok(0) => return true,
            Ok(n) => read += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    tracing::warn!(peer = ?tcp.peer_addr().ok(), "a stream's peer sent more than {MOST_READ_PER_WAKE} bytes; closing it");
    true
}
