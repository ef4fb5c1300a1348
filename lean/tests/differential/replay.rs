//! Replays cases on L and H side by side and reports every case whose outcomes differ.

use crate::case::Case;
use crate::client::play;
use crate::response::Outcome;
use crate::servers::{Server, Servers};
use std::fmt;
use std::time::Duration;

/// How long a connection must stay silent to count as left open. Every response of the
/// test router is ready at once, so this is only the machine's worst delay.
const QUIET: Duration = Duration::from_millis(400);
/// The quiet window of a second look at a case that differed: on this shared, noisy
/// machine a slow answer must not pass for a different one.
const RECHECK_QUIET: Duration = Duration::from_secs(2);
/// Cases replayed at the same time (each on both servers): they mostly wait.
const AT_ONCE: usize = 12;
/// A fresh client's request after each case: the server still serves.
const PROBE: &str = "GET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// What one server did with a case.
#[derive(Debug, PartialEq, Eq)]
pub struct Observed {
    /// On the case's connection.
    pub answer: Outcome,
    /// To [`PROBE`] on a new connection, after the case.
    pub afterwards: Outcome,
}

/// A case whose outcomes differ, twice.
pub struct Mismatch {
    case: Case,
    lean: Observed,
    hyper: Observed,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.case)?;
        writeln!(f, "sse-lean:\n{:#?}", self.lean)?;
        writeln!(f, "hyper:\n{:#?}", self.hyper)
    }
}

/// Replays every case on both servers of `servers` (cases that publish get servers of their
/// own) and panics with every mismatch.
pub fn assert_same(cases: &[Case], servers: &Servers) {
    let mismatches = mismatches(cases, servers);
    assert!(mismatches.is_empty(), "{}", report(&mismatches, cases.len()));
}

/// Every mismatch of a run of `cases` cases, in full.
pub fn report(mismatches: &[Mismatch], cases: usize) -> String {
    let each: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
    let count = mismatches.len();
    format!("{count} of {cases} cases differ between sse-lean and hyper:\n\n{}", each.join("\n"))
}

/// The cases whose outcomes differ, replayed [`AT_ONCE`] at a time.
pub fn mismatches(cases: &[Case], servers: &Servers) -> Vec<Mismatch> {
    let mut found = Vec::new();
    for batch in cases.chunks(AT_ONCE) {
        std::thread::scope(|scope| {
            let checks: Vec<_> =
                batch.iter().map(|case| scope.spawn(|| mismatch(case, servers))).collect();
            found.extend(checks.into_iter().filter_map(|check| check.join().expect("no panic")));
        });
    }
    found
}

/// The case's outcomes if they differ, and still differ with a longer quiet window.
fn mismatch(case: &Case, servers: &Servers) -> Option<Mismatch> {
    let mut observed = None;
    for quiet in [QUIET, RECHECK_QUIET] {
        let (lean, hyper) = if case.publishes() {
            // Its events would reach other cases' streams and every later replay.
            let own = Servers::start();
            let both = observe_both(case, &own, quiet);
            own.stop();
            both
        } else {
            observe_both(case, servers, quiet)
        };
        if lean == hyper {
            return None;
        }
        observed = Some((lean, hyper));
    }
    let (lean, hyper) = observed.expect("observed twice");
    Some(Mismatch { case: case.clone(), lean, hyper })
}

fn observe_both(case: &Case, servers: &Servers, quiet: Duration) -> (Observed, Observed) {
    std::thread::scope(|scope| {
        let lean = scope.spawn(|| observe(case, &servers.lean, quiet));
        let hyper = observe(case, &servers.hyper, quiet);
        (lean.join().expect("no panic"), hyper)
    })
}

fn observe(case: &Case, server: &Server, quiet: Duration) -> Observed {
    let answer = Outcome::parse(&play(case, server, quiet), &case.heads());
    let probe = Case::new("probe", PROBE);
    let afterwards = Outcome::parse(&play(&probe, server, quiet), &probe.heads());
    Observed { answer, afterwards }
}
