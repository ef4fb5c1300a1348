//! What every connection is held to, whatever bytes arrive and whoever serves it (this
//! layer, a lean writer, or hyper). These must always be true:
//!
//! 1. **One byte budget.** The bytes this crate holds in user space for one connection (the
//!    request head being read, what was read ahead of it, and what the peer pipelined while
//!    its stream ran) never exceed [`BUFFER_BUDGET`], and neither does the buffer that holds
//!    them. Every append is sized by [`room`] and made room for by [`reserve`], which give
//!    room only up to the budget, so a read never asks for more; nothing is computed on
//!    the budget without checked or saturating arithmetic. A head that is not whole when the budget is full
//!    goes to hyper, which refuses it or reads it under its own buffer limit (about
//!    400 KiB), as `axum::serve` would.
//! 2. **One deadline per state, never restarted.** A connection is waiting for a head, idle
//!    between requests, or busy with requests in flight ([`Phase`]). A head must be whole
//!    by its deadline: [`Options::head_timeout`] from the connection's start for its first
//!    request, from the first byte of a later one; an idle connection has
//!    [`Options::idle_timeout`] from its last response. Only a request in flight ends a
//!    state's deadline, and only reading the first byte after idling starts the next; no
//!    read, hand-over or protocol sniff starts one again. When hyper takes the connection
//!    over (a request that is not clean, an HTTP/2 preface), it takes the [`Phase`] with
//!    it, and this crate, not hyper's header timer, enforces it there too, through
//!    hyper-util's protocol sniff and every later request; a request in flight has no
//!    deadline, its writes are bound by [`Options::stall_timeout`].
//! 3. **Every idle file can be shed.** A connection that holds a file without a request in
//!    flight (connecting, reading a head, idle, sniffed by hyper, or idle in hyper) is
//!    counted in [`Waiting`] for exactly as long as it is so; out of files, the one that has
//!    waited longest is closed, and the next only once its file is free.
//!
//! [`Options::head_timeout`]: crate::Options::head_timeout
//! [`Options::idle_timeout`]: crate::Options::idle_timeout
//! [`Options::stall_timeout`]: crate::Options::stall_timeout
//! [`Waiting`]: crate::waiting::Waiting

use crate::Options;
use crate::head::MAX_HEAD;
use std::num::NonZeroUsize;
use std::time::Duration;
use tokio::time::Instant;

/// The most bytes held in user space for one connection by this crate: a request head,
/// what was read ahead of it, and what the peer pipelined behind a stream.
pub const BUFFER_BUDGET: usize = 64 * 1024;

// A buffer with no room left always holds a whole head or goes to hyper: never stuck.
const _: () = assert!(MAX_HEAD <= BUFFER_BUDGET);

/// How many of `want` more bytes fit in a buffer holding `held`, within the budget.
pub fn room(held: usize, want: usize) -> usize {
    BUFFER_BUDGET.saturating_sub(held).min(want)
}

/// Makes room in `buf` for up to `want` more bytes, within the budget, and says how much
/// ([`room`]). Grows `buf` to exactly what is needed, so its capacity stays within the
/// budget too.
pub fn reserve(buf: &mut Vec<u8>, want: usize) -> usize {
    let room = room(buf.len(), want);
    let spare = buf.capacity().saturating_sub(buf.len());
    if spare < room {
        buf.reserve_exact(room);
    }
    room
}

/// Where a connection stands, and the deadline of that state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading a request head, which must be whole by this instant.
    Head(Instant),
    /// Between requests, nothing of the next one read yet: closed at this instant.
    Idle(Instant),
    /// This many requests in flight (several only on HTTP/2): no deadline here.
    Busy(NonZeroUsize),
}

impl Phase {
    /// A new connection: its first head has the head timeout from now.
    pub fn connected(now: Instant, options: &Options) -> Self {
        Self::Head(after(now, options.head_timeout))
    }

    /// A connection whose last response ended now: idle, or already reading the next head
    /// if some of it came.
    pub fn answered(now: Instant, options: &Options, read_ahead: bool) -> Self {
        let idle = Self::Idle(after(now, options.idle_timeout));
        match read_ahead {
            true => idle.read(now, options),
            false => idle,
        }
    }

    /// Bytes arrived: an idle connection is now reading a head, from now. Any other state
    /// keeps its deadline.
    pub fn read(self, now: Instant, options: &Options) -> Self {
        match self {
            Self::Idle(_) => Self::Head(after(now, options.head_timeout)),
            other => other,
        }
    }

    /// A request is in flight.
    pub fn begin(self) -> Self {
        match self {
            Self::Busy(requests) => Self::Busy(requests.saturating_add(1)),
            _ => Self::Busy(NonZeroUsize::MIN),
        }
    }

    /// A request's response ended now.
    pub fn end(self, now: Instant, options: &Options) -> Self {
        match self {
            Self::Busy(requests) => match requests.get().checked_sub(1).and_then(NonZeroUsize::new)
            {
                Some(left) => Self::Busy(left),
                None => Self::answered(now, options, false),
            },
            // Not busy: nothing in flight to end.
            other => other,
        }
    }

    /// When the connection is closed unless a request comes first; `None` while busy.
    pub fn deadline(self) -> Option<Instant> {
        match self {
            Self::Head(deadline) | Self::Idle(deadline) => Some(deadline),
            Self::Busy(_) => None,
        }
    }
}

/// `timeout` after `now`; a timeout too long to add is as good as never.
fn after(now: Instant, timeout: Duration) -> Instant {
    let never = Duration::from_secs(u64::from(u32::MAX));
    now.checked_add(timeout).unwrap_or_else(|| now + never)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPTIONS: Options = Options {
        head_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(5),
        stall_timeout: Duration::from_secs(7),
    };

    #[test]
    fn room_is_given_up_to_the_budget_and_the_buffer_never_outgrows_it() {
        let mut buf = Vec::new();
        assert_eq!(reserve(&mut buf, 8192), 8192);
        assert!(buf.capacity() >= 8192);
        buf.resize(BUFFER_BUDGET - 10, 0);
        assert_eq!(reserve(&mut buf, 8192), 10);
        assert!(buf.capacity() <= BUFFER_BUDGET);
        buf.resize(BUFFER_BUDGET, 0);
        assert_eq!(reserve(&mut buf, 8192), 0);
        assert_eq!(buf.capacity(), BUFFER_BUDGET);
    }

    proptest! {
        /// Appending as the connection layer does (reserve, then read at most the room)
        /// keeps both the bytes and the allocation within the budget, whatever the sizes.
        #[test]
        fn no_sequence_of_appends_and_drains_outgrows_the_budget(
            steps in proptest::collection::vec((0usize..100_000, 0usize..100_000, any::<bool>()), 1..40)
        ) {
            let mut buf = Vec::new();
            for (want, arrived, drain) in steps {
                if drain {
                    let keep = buf.len() / 2;
                    buf.drain(..keep);
                }
                let room = reserve(&mut buf, want);
                buf.extend(std::iter::repeat_n(7, arrived.min(room)));
                prop_assert!(buf.len() <= BUFFER_BUDGET);
                prop_assert!(buf.capacity() <= BUFFER_BUDGET);
            }
        }
    }

    #[test]
    fn a_first_head_has_the_head_timeout_from_the_start_however_it_trickles() {
        let start = Instant::now();
        let phase = Phase::connected(start, &OPTIONS);
        let later = phase.read(start + Duration::from_secs(1), &OPTIONS);
        assert_eq!(later.deadline(), Some(start + OPTIONS.head_timeout), "not restarted");
    }

    #[test]
    fn an_idle_connection_gets_the_head_timeout_from_its_next_first_byte() {
        let start = Instant::now();
        let idle = Phase::connected(start, &OPTIONS).begin().end(start, &OPTIONS);
        assert_eq!(idle.deadline(), Some(start + OPTIONS.idle_timeout));
        let byte = start + Duration::from_secs(4);
        let head = idle.read(byte, &OPTIONS);
        assert_eq!(head.deadline(), Some(byte + OPTIONS.head_timeout));
        let more = head.read(byte + Duration::from_secs(1), &OPTIONS);
        assert_eq!(more, head, "later bytes of the same head change nothing");
        let ahead = Phase::answered(start, &OPTIONS, true);
        assert_eq!(ahead.deadline(), Some(start + OPTIONS.head_timeout));
    }

    #[test]
    fn requests_in_flight_have_no_deadline_until_the_last_one_ends() {
        let start = Instant::now();
        let two = Phase::connected(start, &OPTIONS).begin().begin();
        assert_eq!(two.deadline(), None);
        let one = two.end(start, &OPTIONS);
        assert_eq!(one.deadline(), None);
        let done = start + Duration::from_secs(3);
        assert_eq!(one.end(done, &OPTIONS), Phase::Idle(done + OPTIONS.idle_timeout));
        let idle = Phase::Idle(done);
        assert_eq!(idle.end(start, &OPTIONS), idle, "nothing in flight to end");
    }
}
