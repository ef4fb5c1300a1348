//! The writers: one task per runtime thread holds the lean streams that keep up, and on
//! each event writes it to all of its hub's streams in one pass ([`ByHub`]), one
//! non-blocking `writev` per stream, with no task, timer or waker per stream, only the
//! `Delivery` that decides each stream's bytes.
//!
//! A stream whose socket cannot take a write whole leaves the writers ([`Leaving`]) for a
//! task of its own ([`slow`](crate::slow)), which waits under the stall guard until the
//! socket has taken the rest, and then hands the stream back. A stream that ends gets its
//! last chunk here, and its connection goes on to its next request. Every frame of a lean
//! stream is written by [`pump`]. Each writer
//! watches its sockets through an epoll set of its own (`mio::Poll`), which the runtime
//! watches as one file: a peer that leaves is closed at once, and what a peer sends while
//! its stream runs (a pipelined request) is kept for after the stream, as hyper keeps it.

use crate::by_hub::ByHub;
use crate::kernel_buffers;
use crate::metrics::OpenCount;
use crate::peer::{self, Peer};
use crate::reply::Held;
use crate::wire::{self, LAST_CHUNK, SizeLine};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use slab::Slab;
use sse_hub::{Doorbell, TryNext};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Streams written between two yields to the runtime, so that a pass over thousands of
/// streams does not hold up the thread's other tasks (page requests) for its whole length.
const STREAMS_PER_TURN: usize = 128;
/// Peers' events taken from the writer's epoll set at once.
const EVENTS_PER_POLL: usize = 256;
/// The slab is compacted once less than this share of it is used: memory comes back after
/// a crowd leaves.
const COMPACT_BELOW: usize = 4;

/// One subscriber's stream, whoever writes it.
pub struct Subscriber {
    /// What to write, and what to drop at the end.
    pub held: Held,
    pub peer: SocketAddr,
    /// What the peer sent after its request: its next requests.
    pub kept: Vec<u8>,
    pub counted: OpenCount,
}

/// A stream for the writers: its socket, its response head, and the subscriber.
pub struct NewStream {
    pub tcp: std::net::TcpStream,
    pub head: Vec<u8>,
    pub subscriber: Subscriber,
}

/// A stream that leaves the writers: its socket did not take `unsent`, or it is `over` (its
/// last chunk is written, or in `unsent`).
pub struct Leaving {
    pub tcp: std::net::TcpStream,
    pub unsent: Vec<u8>,
    pub subscriber: Subscriber,
    pub over: bool,
}

/// The writers, one per runtime thread; new streams go to each in turn.
pub struct Writers {
    inboxes: Vec<mpsc::UnboundedSender<NewStream>>,
    next: AtomicUsize,
}

impl Writers {
    /// Starts one writer per runtime thread in `tasks`, each woken when any hub publishes,
    /// until `stop`; the streams that leave them go to `leaving`.
    pub fn start(
        leaving: mpsc::UnboundedSender<Leaving>,
        tasks: &TaskTracker,
        stop: &CancellationToken,
    ) -> io::Result<Self> {
        let threads = tokio::runtime::Handle::current().metrics().num_workers();
        let mut inboxes = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (inbox, received) = mpsc::unbounded_channel();
            let writer = Writer::new(received, leaving.clone(), stop.clone())?;
            tasks.spawn(writer.run());
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
    subscriber: Subscriber,
    /// Whether the writer's epoll set watches the socket: not once the start of the peer's
    /// next request is kept ([`Peer::Kept`]).
    watched: bool,
}

/// How far one stream got in a pass.
enum Pumped {
    /// Everything ready was written: the stream waits for the next event or its ping.
    Idle,
    /// The stream leaves, with these bytes unsent (see [`Leaving`]).
    Leaves { unsent: Vec<u8>, over: bool },
    /// The peer is gone (the write failed).
    Gone,
}

struct Writer {
    streams: Slab<Stream>,
    by_hub: ByHub,
    inbox: mpsc::UnboundedReceiver<NewStream>,
    doorbell: Doorbell,
    /// The sockets' epoll set, readable when a peer sent something or left.
    peers: AsyncFd<Poll>,
    registry: Registry,
    events: Events,
    /// The earliest ping due among the idle streams.
    next_ping: Option<Instant>,
    leaving: mpsc::UnboundedSender<Leaving>,
    stop: CancellationToken,
}

impl Writer {
    fn new(
        inbox: mpsc::UnboundedReceiver<NewStream>,
        leaving: mpsc::UnboundedSender<Leaving>,
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
            by_hub: ByHub::default(),
            inbox,
            doorbell: Doorbell::new(),
            peers,
            registry,
            events: Events::with_capacity(EVENTS_PER_POLL),
            next_ping: None,
            leaving,
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
                () = self.doorbell.rung() => self.write_news().await,
                ready = self.peers.readable_mut() => match ready {
                    Ok(mut ready) => {
                        ready.clear_ready();
                        self.read_peers();
                    }
                    Err(err) => tracing::error!(%err, "cannot watch the streams' peers"),
                },
                () = &mut ping, if self.next_ping.is_some() => self.write_all().await,
            }
        }
        // The deliveries that see the stop end now: each stream gets its last chunk.
        self.write_all().await;
    }

    /// Takes a stream: bounds its socket's send buffer (see [`kernel_buffers`]), registers it,
    /// and writes its head and whatever it has ready.
    fn adopt(&mut self, new: NewStream) {
        let NewStream { tcp, head, subscriber } = new;
        let peer = subscriber.peer;
        if let Err(err) = kernel_buffers::bound(&tcp) {
            return tracing::warn!(%err, %peer, "cannot bound a stream's send buffer; closing it");
        }
        let entry = self.streams.vacant_entry();
        let mut tcp = TcpStream::from_std(tcp);
        if let Err(err) = self.registry.register(&mut tcp, Token(entry.key()), Interest::READABLE) {
            return tracing::warn!(%err, %peer, "cannot watch a stream's socket; closing it");
        }
        let key = entry.key();
        entry.insert(Stream { tcp, subscriber, watched: true });
        self.by_hub.changed();
        let stream = &mut self.streams[key];
        let pumped = match write(&stream.tcp, &[&head]) {
            Ok(()) => pump(stream),
            Err(leaves_or_gone) => leaves_or_gone,
        };
        self.settle(key, pumped);
    }

    /// Writes what the streams of the hubs that published have ready.
    async fn write_news(&mut self) {
        let streams = self.streams.iter().map(|(key, stream)| (key, news(stream)));
        let keys = self.by_hub.with_news(streams);
        self.write_ready(keys).await;
    }

    /// Writes whatever every stream has ready (pings, or the end at shutdown), and notes
    /// the next ping due.
    async fn write_all(&mut self) {
        self.next_ping = None;
        let keys = self.streams.iter().map(|(key, _)| key).collect();
        self.write_ready(keys).await;
    }

    /// Writes whatever the streams at `keys` have ready (events, pings, the end), yielding
    /// now and then.
    async fn write_ready(&mut self, keys: Vec<usize>) {
        for (turn, key) in keys.into_iter().enumerate() {
            let Some(stream) = self.streams.get_mut(key) else { continue };
            let pumped = pump(stream);
            self.settle(key, pumped);
            if turn % STREAMS_PER_TURN == STREAMS_PER_TURN - 1 {
                tokio::task::yield_now().await;
            }
        }
        self.compact_if_sparse();
    }

    /// Acts on how far the stream at `key` got.
    fn settle(&mut self, key: usize, pumped: Pumped) {
        match pumped {
            Pumped::Idle => {
                let due = self.streams[key].subscriber.held.delivery.ping_due();
                self.next_ping = Some(self.next_ping.map_or(due, |next| next.min(due)));
            }
            Pumped::Leaves { unsent, over } => {
                let Stream { tcp, subscriber, .. } = self.release(key);
                let leaving = Leaving { tcp: tcp.into(), unsent, subscriber, over };
                // The receiver is gone only at shutdown: the stream is then closed.
                let _ = self.leaving.send(leaving);
            }
            Pumped::Gone => drop(self.release(key)),
        }
    }

    /// Takes the stream at `key` out of this writer.
    fn release(&mut self, key: usize) -> Stream {
        self.by_hub.changed();
        let mut stream = self.streams.remove(key);
        unwatch(&self.registry, &mut stream);
        stream
    }

    /// Reads what the peers that woke the epoll set sent, and closes the streams of those
    /// that left.
    fn read_peers(&mut self) {
        loop {
            let poll = self.peers.get_mut();
            if let Err(err) = poll.poll(&mut self.events, Some(Duration::ZERO)) {
                return tracing::error!(%err, "cannot read the streams' peers' events");
            }
            let keys: Vec<usize> = self.events.iter().map(|event| event.token().0).collect();
            for key in &keys {
                self.read_peer(*key);
            }
            if keys.len() < EVENTS_PER_POLL {
                break;
            }
        }
        self.compact_if_sparse();
    }

    /// Reads what the peer of the stream at `key` sent.
    fn read_peer(&mut self, key: usize) {
        let Some(stream) = self.streams.get_mut(key) else { return };
        let tcp = &stream.tcp;
        match peer::read_into(&mut stream.subscriber.kept, |buf| (&*tcp).read(buf)) {
            Peer::Here => {}
            Peer::Kept => unwatch(&self.registry, stream),
            Peer::Gone => drop(self.release(key)),
        }
    }

    /// Gives memory back once most streams have left: the slab moves its streams to the
    /// lowest keys (their sockets' tokens follow) and shrinks.
    fn compact_if_sparse(&mut self) {
        if self.streams.len() * COMPACT_BELOW >= self.streams.capacity() {
            return;
        }
        self.by_hub.changed();
        let registry = &self.registry;
        self.streams.compact(|stream, _from, to| {
            !stream.watched
                || registry.reregister(&mut stream.tcp, Token(to), Interest::READABLE).is_ok()
        });
    }
}

/// The hub of `stream`'s delivery.
fn news(stream: &Stream) -> &sse_hub::News {
    stream.subscriber.held.delivery.news()
}

/// Stops watching `stream`'s socket.
fn unwatch(registry: &Registry, stream: &mut Stream) {
    if std::mem::take(&mut stream.watched) {
        if let Err(err) = registry.deregister(&mut stream.tcp) {
            tracing::debug!(%err, "deregistering a stream's socket");
        }
    }
}

/// Writes everything `stream`'s delivery has ready, each event as one chunk, and the last
/// chunk once the stream is over.
fn pump(stream: &mut Stream) -> Pumped {
    loop {
        let frames = match stream.subscriber.held.delivery.try_next() {
            TryNext::Frames(frames) => frames,
            TryNext::Empty => return Pumped::Idle,
            TryNext::Finished => {
                let unsent = match write(&stream.tcp, &[LAST_CHUNK]) {
                    Ok(()) => Vec::new(),
                    Err(Pumped::Leaves { unsent, .. }) => unsent,
                    Err(gone) => return gone,
                };
                return Pumped::Leaves { unsent, over: true };
            }
        };
        let mut size = SizeLine::default();
        if let Err(leaves_or_gone) = write(&stream.tcp, &wire::chunk(&mut size, &frames)) {
            return leaves_or_gone;
        }
    }
}

/// Writes `parts` whole, or says why the stream cannot stay here: the socket took only
/// part ([`Pumped::Leaves`] with the rest), or the peer is gone.
fn write(tcp: &TcpStream, parts: &[&[u8]]) -> Result<(), Pumped> {
    match wire::try_write_all(tcp, parts) {
        Ok(None) => Ok(()),
        Ok(Some(unsent)) => Err(Pumped::Leaves { unsent, over: false }),
        Err(_) => Err(Pumped::Gone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::StreamMetrics;
    use crate::slow::{self, Next};
    use crate::stall::StallGuard;
    use prometheus_client::metrics::counter::Counter;
    use sse_hub::{EventId, Hub, StreamOptions};
    use std::num::NonZeroUsize;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    const HEAD: &str = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";

    struct Fixture {
        hub: Hub<String>,
        writers: Arc<Writers>,
        metrics: StreamMetrics,
        /// How many times a stream left the writers.
        left: Arc<AtomicUsize>,
        stop: CancellationToken,
    }

    impl Fixture {
        fn new() -> Self {
            let size = |n| NonZeroUsize::new(n).unwrap();
            let hub = Hub::new(size(1024), size(64));
            let tasks = TaskTracker::new();
            let stop = CancellationToken::new();
            let (leaving, mut leavers) = mpsc::unbounded_channel();
            let writers = Writers::start(leaving, &tasks, &stop).unwrap();
            let writers = Arc::new(writers);
            let left = Arc::new(AtomicUsize::new(0));
            let (back, counted) = (writers.clone(), left.clone());
            // As `Lean::serve` does, without the connection layer: an ended stream's
            // connection is closed, so its client reads to its end.
            tasks.spawn(async move {
                while let Some(leaving) = leavers.recv().await {
                    counted.fetch_add(1, Ordering::Relaxed);
                    let back = back.clone();
                    tokio::spawn(async move {
                        let stall = Duration::from_secs(60);
                        let guard = |tcp| StallGuard::new(tcp, stall, Counter::default());
                        if let Some(Next::Writers(stream)) = slow::drain(leaving, guard).await {
                            back.adopt(stream);
                        }
                    });
                }
            });
            Self { hub, writers, metrics: StreamMetrics::default(), left, stop }
        }

        /// A new subscriber whose socket, on the server's side, has the smallest send
        /// buffer, and on its own side `receive_buffer` bytes: its writes soon block.
        async fn subscribe(&self, receive_buffer: u32) -> tokio::net::TcpStream {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = tokio::net::TcpSocket::new_v4().unwrap();
            client.set_recv_buffer_size(receive_buffer).unwrap();
            let client = client.connect(listener.local_addr().unwrap()).await.unwrap();
            let (server, peer) = listener.accept().await.unwrap();
            let tcp = server.into_std().unwrap();
            socket2::SockRef::from(&tcp).set_send_buffer_size(4096).unwrap();
            let options = StreamOptions {
                retry: Duration::from_secs(1),
                heartbeat: Duration::from_secs(3600),
                limit: None,
                stop: self.stop.clone(),
            };
            let delivery = self.hub.subscribe(None).unwrap().into_delivery(options);
            let held = Held { delivery, guard: Box::new(()) };
            let counted = self.metrics.open(crate::Writer::Lean);
            let subscriber = Subscriber { held, peer, kept: Vec::new(), counted };
            self.writers.adopt(NewStream { tcp, head: HEAD.into(), subscriber });
            client
        }

        /// Publishes an event of about `bytes` bytes and lets the writers run.
        async fn publish(&self, bytes: usize) -> EventId {
            let id = self.hub.publish(|index| format!("{index:0>bytes$}"));
            tokio::time::sleep(Duration::from_millis(2)).await;
            id
        }

        fn open_streams(&self) -> i64 {
            self.hub.metrics().subscribers.get()
        }
    }

    /// The indices of the events in everything `client` reads until the stream ends, checking
    /// the chunked framing and that each event's data is its own index.
    async fn read_to_end(client: &mut tokio::net::TcpStream) -> Vec<u64> {
        let mut bytes = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), client.read_to_end(&mut bytes));
        read.await.expect("the stream ends").unwrap();
        let body = bytes.strip_prefix(HEAD.as_bytes()).expect("the head first");
        let text = String::from_utf8(dechunk(body)).unwrap();
        let events = text.split_terminator("\n\n").filter(|block| block.contains("id: "));
        events.map(index_of_checked).collect()
    }

    /// The body of a chunked transfer, which must end with its last chunk.
    fn dechunk(mut body: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        loop {
            let line_end = body.windows(2).position(|w| w == b"\r\n").expect("a size line");
            let size = std::str::from_utf8(&body[..line_end]).unwrap();
            let size = usize::from_str_radix(size, 16).expect("a hex size");
            let chunk = &body[line_end + 2..];
            assert_eq!(&chunk[size..size + 2], b"\r\n", "a chunk ends where its size says");
            data.extend_from_slice(&chunk[..size]);
            body = &chunk[size + 2..];
            if size == 0 {
                assert!(body.is_empty(), "nothing after the last chunk");
                return data;
            }
        }
    }

    /// The index of an event block whose data is its index, zero-padded (a string, so sent
    /// as its text).
    fn index_of_checked(block: &str) -> u64 {
        let field = |name| block.lines().find_map(|line| line.strip_prefix(name)).unwrap();
        let index = field("id: ").parse::<EventId>().unwrap().index;
        assert_eq!(field("data: ").parse::<u64>().unwrap(), index, "{block}");
        index
    }

    #[tokio::test]
    async fn a_stream_that_cannot_keep_up_leaves_the_writers_and_misses_nothing() {
        let fixture = Fixture::new();
        let mut client = fixture.subscribe(1024).await;
        // Nothing is read for now: the socket's buffers fill within a few events of 2 KB.
        let mut indices = Vec::new();
        for _ in 0..40 {
            indices.push(fixture.publish(2048).await.index);
        }
        assert!(fixture.left.load(Ordering::Relaxed) >= 1, "the stream left the writers");
        fixture.hub.close("done");
        assert_eq!(read_to_end(&mut client).await, indices, "every event once, in order");
    }

    /// Waits (boundedly) until `count` streams are open.
    async fn until_open_streams(fixture: &Fixture, count: i64) {
        for _ in 0..1000 {
            if fixture.open_streams() == count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{} streams open, not {count}", fixture.open_streams());
    }

    #[tokio::test]
    async fn streams_are_closed_when_their_peers_leave_and_the_rest_keep_every_event() {
        let fixture = Fixture::new();
        let mut clients = Vec::new();
        for _ in 0..40 {
            clients.push(fixture.subscribe(64 * 1024).await);
        }
        let mut indices = vec![fixture.publish(100).await.index];
        until_open_streams(&fixture, 40).await;
        // All but the last four leave: the writer compacts its slab, and the four that stay
        // get new keys, under which their peers' leaving must still be seen.
        let mut stayers = clients.split_off(36);
        drop(clients);
        until_open_streams(&fixture, 4).await;
        drop(stayers.pop());
        until_open_streams(&fixture, 3).await;
        for _ in 0..5 {
            indices.push(fixture.publish(100).await.index);
        }
        fixture.hub.close("done");
        for mut stayer in stayers {
            assert_eq!(read_to_end(&mut stayer).await, indices);
        }
    }
}
