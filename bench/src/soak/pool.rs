//! The subscribers a soak holds open: one slot each, filled at the ramp's pace, then
//! replaced oldest first, every other replacement resuming where the one it replaces stopped.

use super::sequence::{Sequence, Streams};
use crate::client::Clients;
use crate::client::subscriber::Subscriber;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The subscribers held open, and what the run's closed ones received.
pub struct Pool {
    clients: Clients,
    slots: Vec<Slot>,
    /// Subscribers started so far: picks the source address.
    pub started: u64,
    /// Subscribers replaced so far: picks the next to close and which ones resume.
    replaced: u64,
    pub closed: u64,
    pub resumed: u64,
    streams: Streams,
}

/// One subscriber: how to stop it, and its sequence once it has stopped.
struct Slot {
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<Sequence>,
}

impl Slot {
    /// Asks the subscriber to close its connection (once).
    fn close(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// The subscriber's sequence once it has stopped; `None` if it panicked.
    async fn sequence(&mut self) -> Option<Sequence> {
        (&mut self.done).await.ok()
    }
}

impl Pool {
    /// An empty pool of `clients`.
    pub fn new(clients: Clients) -> Self {
        Self {
            clients,
            slots: Vec::new(),
            started: 0,
            replaced: 0,
            closed: 0,
            resumed: 0,
            streams: Streams::default(),
        }
    }

    /// Opens `wanted` subscribers at the ramp's pace, and waits until each has connected or
    /// failed.
    pub async fn fill(&mut self, wanted: u64) {
        let clients = self.clients.clone();
        clients
            .ramp(wanted, |_| {
                let slot = self.start(None);
                self.slots.push(slot);
            })
            .await;
    }

    /// Replaces `per_sec` subscribers a second, oldest first, for `length`.
    pub async fn churn(&mut self, per_sec: u64, length: Duration) {
        if per_sec == 0 || self.slots.is_empty() {
            return tokio::time::sleep(length).await;
        }
        eprintln!("sse-load: replacing {per_sec} subscribers a second for {length:?}");
        let started = Instant::now();
        let mut pace = tokio::time::interval(Duration::from_secs(1) / per_sec as u32);
        while started.elapsed() < length {
            pace.tick().await;
            self.replace().await;
            if self.replaced.is_multiple_of(per_sec * 60) {
                eprintln!("sse-load: {} replaced; {:?}", self.replaced, self.streams);
            }
        }
    }

    /// Closes the oldest subscriber and starts another in its place; every other one
    /// resumes after the last event the closed one received, as a reconnecting browser.
    async fn replace(&mut self) {
        let index = (self.replaced % self.slots.len() as u64) as usize;
        let resume = self.replaced.is_multiple_of(2);
        self.replaced += 1;
        let old = &mut self.slots[index];
        old.close();
        let sequence = old.sequence().await;
        self.closed += 1;
        let resume_from = sequence.as_ref().and_then(Sequence::last_id).filter(|_| resume);
        if let Some(sequence) = &sequence {
            self.streams.add(sequence);
        }
        self.slots[index] = self.start(resume_from);
    }

    /// Starts one subscriber, resuming after `resume_from` if given.
    fn start(&mut self, resume_from: Option<String>) -> Slot {
        self.resumed += u64::from(resume_from.is_some());
        let subscriber = self.clients.subscriber(self.started, resume_from);
        self.started += 1;
        let (stop, stopped) = oneshot::channel();
        let done = tokio::spawn(read_until_stopped(subscriber, stopped));
        Slot { stop: Some(stop), done }
    }

    /// Closes every subscriber at once and returns the sequences of all connections of
    /// the run.
    pub async fn close_all(&mut self) -> Streams {
        self.slots.iter_mut().for_each(Slot::close);
        for slot in &mut self.slots {
            self.closed += 1;
            if let Some(sequence) = slot.sequence().await {
                self.streams.add(&sequence);
            }
        }
        self.slots.clear();
        self.streams.clone()
    }
}

/// One subscriber of the pool: reads until its stream ends or it is told to close, and
/// returns the order its data events came in.
async fn read_until_stopped(subscriber: Subscriber, stop: oneshot::Receiver<()>) -> Sequence {
    let mut sequence = Sequence::after(subscriber.resume_from());
    tokio::select! {
        _ = stop => {}
        () = subscriber.run(|item| sequence.see(item)) => {}
    }
    sequence
}
