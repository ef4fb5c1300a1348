//! # open-files
//!
//! Every open SSE stream holds a socket, and so does every subscriber of a load test: both
//! the livenames server and `sse-load` raise their soft open-files limit (`RLIMIT_NOFILE`)
//! to the hard one before they open thousands. This is the one place that does it, in a
//! crate of its own so that the benchmarks can share it without building the server.

use std::io;

/// The open-files limit before and after [`raise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raised {
    /// The soft limit before.
    pub was: u64,
    /// The soft limit now: what this process may open.
    pub now: u64,
    /// The hard limit, which only a privileged process can raise.
    pub hard: u64,
}

/// Why the limit could not be raised.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `getrlimit` failed: the limit is unknown.
    #[error("cannot read the open-files limit: {0}")]
    Read(io::Error),
    /// `setrlimit` failed: the soft limit stays at `soft`.
    #[error("cannot raise the open-files limit from {soft} to {hard}: {source}")]
    Raise { soft: u64, hard: u64, source: io::Error },
}

impl Error {
    /// The soft limit in force despite the error, when it is known.
    pub fn soft_limit(&self) -> Option<u64> {
        match self {
            Self::Read(_) => None,
            Self::Raise { soft, .. } => Some(*soft),
        }
    }
}

/// Raises this process's soft open-files limit to the hard limit.
pub fn raise() -> Result<Raised, Error> {
    let (was, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).map_err(Error::Read)?;
    let now = rlimit::increase_nofile_limit(hard).map_err(|source| Error::Raise {
        soft: was,
        hard,
        source,
    })?;
    Ok(Raised { was, now, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        if hard == rlimit::INFINITY {
            return; // no finite limit to raise to
        }
        // One below the hard limit, so that there is something to raise.
        rlimit::setrlimit(rlimit::Resource::NOFILE, hard - 1, hard).unwrap();
        let raised = raise().unwrap();
        assert_eq!(raised, Raised { was: hard - 1, now: hard, hard });
        assert_eq!(rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap(), (hard, hard));
    }
}
