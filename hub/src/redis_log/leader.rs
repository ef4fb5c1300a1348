//! The publisher: the one process holding the lease appends the events, fenced by its term.
//!
//! A process campaigns for the lease `<key>:leader` (taken with `SET PX`, renewed every
//! third of its length); each time it takes it, it gets a new term, `<name>/<n>` with `n`
//! from a counter in Redis: its fencing token. Every append names its term, and Redis
//! refuses it unless that term holds the lease at that moment ([`APPEND`](super::scripts)).
//! So a leader whose lease expired while it was paused, or vanished when Redis lost its
//! data or restarted, cannot write, whatever its own clock says; it steps down and
//! campaigns again. The clock only decides when a leader stops trying early, and what
//! `/healthz` says: `leader` is true only until the lease would expire since it was last
//! asked for, counted from before asking.

use super::scripts::Refusal;
use super::{NAME_FIELD, RedisHub, Shared};
use crate::EventName;
use crate::data::Data;
use redis::RedisResult;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep};
use tokio_util::sync::CancellationToken;

/// One term of leadership: the lease's value in Redis, and when it was last asked for.
struct Term {
    lease: String,
    renewed_at: Instant,
}

/// How a term ended.
enum Stepped {
    /// Stop was cancelled, or the stream reached its last event: release this lease.
    Done(String),
    /// The lease is (or may be) someone else's now: campaign again.
    Down,
}

impl<T> RedisHub<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    /// Publishes `make(index)` every `interval` while this process holds the lease, and
    /// campaigns for it otherwise; returns when `stop` is cancelled or the stream has ended,
    /// releasing the lease. A page receives the events with `onmessage`.
    pub async fn lead(
        self,
        interval: Duration,
        mut make: impl FnMut(u64) -> T,
        stop: CancellationToken,
    ) {
        self.lead_named(interval, |index| (EventName::MESSAGE, make(index)), stop).await;
    }

    /// Leads as [`RedisHub::lead`] does, publishing each event under the name `make` gives
    /// it along with the event ([`EventName::MESSAGE`] for `onmessage`). The name is kept
    /// in Redis with the event, so every process sends it.
    pub async fn lead_named(
        self,
        interval: Duration,
        mut make: impl FnMut(u64) -> (EventName, T),
        stop: CancellationToken,
    ) {
        while let Some(term) = self.campaign(&stop).await {
            tracing::info!(term = term.lease, "took the lease: publishing");
            let stepped = self.publish_while_leading(term, interval, &mut make, &stop).await;
            self.shared.held_until(None);
            match stepped {
                Stepped::Done(lease) => {
                    self.release(&lease).await;
                    return;
                }
                Stepped::Down => tracing::info!("stopped publishing: campaigning again"),
            }
        }
    }

    /// Waits until this process holds the lease for a new term; `None` at stop or the end.
    async fn campaign(&self, stop: &CancellationToken) -> Option<Term> {
        loop {
            if stop.is_cancelled() || self.shared.hub.is_closed() {
                return None;
            }
            let asked = Instant::now();
            match self.take_lease().await {
                Ok(Some(lease)) => {
                    self.shared.held_until(Some(asked + self.shared.lease));
                    return Some(Term { lease, renewed_at: asked });
                }
                Ok(None) => {}
                Err(err) => self.leader_failed(&err),
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = sleep(self.shared.lease / 3) => {}
            }
        }
    }

    /// Publishes for one term, from the index after the last in the log of this process's
    /// epoch, until the term ends.
    async fn publish_while_leading(
        &self,
        mut term: Term,
        interval: Duration,
        make: &mut impl FnMut(u64) -> (EventName, T),
        stop: &CancellationToken,
    ) -> Stepped {
        let lease = self.shared.lease;
        let Some((epoch, mut next)) = self.next_position().await else { return Stepped::Down };
        let mut ticks = interval_at(self.first_tick(interval), interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut renewals = interval_at(Instant::now() + lease / 3, lease / 3);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return Stepped::Done(term.lease),
                asked = renewals.tick() => match self.renew(&term.lease).await {
                    Ok(true) => {
                        term.renewed_at = asked;
                        self.shared.held_until(Some(asked + lease));
                    }
                    Ok(false) => return Stepped::Down,
                    Err(err) => self.leader_failed(&err),
                },
                _ = ticks.tick() => {
                    // Past the lease without a renewal, Redis would refuse the append anyway.
                    if term.renewed_at.elapsed() >= lease {
                        return Stepped::Down;
                    }
                    if self.shared.max_events.is_some_and(|last| next > last.get()) {
                        return Stepped::Done(term.lease);
                    }
                    match self.append(epoch, &term.lease, next, make).await {
                        Ok(()) => next += 1,
                        Err(err) => match Refusal::of(&err) {
                            Some(refusal) => return self.refused(refusal, next).await,
                            // Not refused: the same index is tried again at the next tick. If
                            // this one was written after all, Redis refuses that (`Index`).
                            None => self.leader_failed(&err),
                        },
                    }
                }
            }
        }
    }

    /// The epoch to publish in and the next index: the one after the last in the log, if
    /// the log is of this process's epoch; otherwise this process follows Redis first.
    async fn next_position(&self) -> Option<(u64, u64)> {
        let epoch = self.shared.hub.epoch();
        match self.log_position().await {
            Ok(Some((stored, last))) if stored == epoch => Some((epoch, last + 1)),
            Ok(_) => {
                self.follow_epoch().await;
                None
            }
            Err(err) => {
                self.leader_failed(&err);
                None
            }
        }
    }

    /// Ends the term after Redis refused an append.
    async fn refused(&self, refusal: Refusal, index: u64) -> Stepped {
        match refusal {
            Refusal::Fenced => {
                tracing::warn!(index, "Redis refused the append: the lease is not this term's");
            }
            Refusal::Epoch => {
                tracing::warn!(index, "the log in Redis is of another epoch: following it");
                self.follow_epoch().await;
            }
            Refusal::Index => tracing::warn!(index, "index {index} is not the log's next"),
        }
        Stepped::Down
    }

    /// When to publish first: an interval after the last event delivered here (at once if
    /// that is past), so a takeover keeps the pace; an interval from now on a new stream.
    fn first_tick(&self, interval: Duration) -> Instant {
        let last = *self.shared.last_delivered.lock().unwrap_or_else(|poison| poison.into_inner());
        let now = Instant::now();
        last.unwrap_or(now).checked_add(interval).map_or(now, |due| due.max(now))
    }

    /// Adds event `index` of `epoch` to the log, fenced by the term's `lease`.
    async fn append(
        &self,
        epoch: u64,
        lease: &str,
        index: u64,
        make: &mut impl FnMut(u64) -> (EventName, T),
    ) -> RedisResult<()> {
        let (name, event) = make(index);
        let data = Data::encode(&event);
        let shared: &Shared<T> = &self.shared;
        let mut script = shared.scripts.append.prepare_invoke();
        script.key(&shared.keys.epoch).key(&shared.keys.events).key(&shared.keys.leader);
        script.arg(epoch).arg(lease).arg(index).arg(shared.history.get());
        script.arg(data.field()).arg(data.as_str());
        if !name.is_message() {
            script.arg(NAME_FIELD).arg(name.as_str());
        }
        let _: u64 = shared.commands.invoke(&script).await?;
        if shared.publishing.set(true) {
            tracing::info!("publishing to Redis again");
        }
        Ok(())
    }

    /// The lease's value for a new term, if it was free or this process's.
    async fn take_lease(&self) -> RedisResult<Option<String>> {
        let mut script = self.shared.scripts.campaign.prepare_invoke();
        script.key(&self.shared.keys.leader).key(&self.shared.keys.term);
        script.arg(&self.shared.instance).arg(self.shared.lease.as_millis() as u64);
        self.shared.commands.invoke(&script).await
    }

    /// Extends the term's lease; `false` if it is no longer this term's.
    async fn renew(&self, lease: &str) -> RedisResult<bool> {
        let mut script = self.shared.scripts.renew.prepare_invoke();
        script.key(&self.shared.keys.leader).arg(lease);
        script.arg(self.shared.lease.as_millis() as u64);
        let renewed: i64 = self.shared.commands.invoke(&script).await?;
        Ok(renewed == 1)
    }

    async fn release(&self, lease: &str) {
        let mut script = self.shared.scripts.release.prepare_invoke();
        script.key(&self.shared.keys.leader).arg(lease);
        match self.shared.commands.invoke::<i64>(&script).await {
            Ok(_) => tracing::info!("released the lease"),
            Err(err) => self.leader_failed(&err),
        }
    }
}
