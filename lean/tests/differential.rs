//! Differential tests: `sse-lean` frames HTTP/1.1 exactly as hyper does.
//!
//! The same router (`differential/servers.rs`: `GET /sse` answered with `Reply::stream`,
//! `/text`, `POST /echo`, `/empty` (204), `/close` (`connection: close`), `/tunnel` (any
//! method, `CONNECT` included: 200), 404 otherwise)
//! is served twice on loopback: by `Lean::serve` (L) and by plain `axum::serve` (H), each
//! with its own hub holding the same history, so both send the same `/sse` frames. Every
//! case (raw bytes, sent in one write or in pieces with pauses, events published in
//! between, then read, half-closed or reset) is replayed on L and H, and what each
//! answered must be equal:
//!
//! - each response's status line, its `connection`, `content-length`, `transfer-encoding`
//!   and `content-type` headers, and its body as its framing delimits it (content-length,
//!   chunked with its last chunk and trailers, or until close; chunk boundaries and `date`
//!   are not compared), `1xx` included;
//! - bytes that are not a response, and whether the server closed the connection (EOF or
//!   reset alike) or kept it open for the quiet window (400 ms, bounded reads);
//! - the answer to a fresh `GET /text` after the case: the server still serves.
//!
//! The corpus (`differential/corpus.rs`) covers request bodies under every framing header
//! on a stream, a plain `GET` and a `POST`; pipelines behind streams, in one write and while
//! a stream waits for a live event, and half-closes behind them; HTTP/1.0 and 1.1 with
//! each `Connection` token; `Upgrade`, `Expect` and `CONNECT`; 100 and 101 headers, heads of 20 KiB, 500 KiB (in pieces) and
//! 1 MiB, a 70 KiB target, heads split byte by byte, heads cut short then left open,
//! half-closed or reset; garbage, `HTTP/2.0` and an h2 preface, `HEAD`s, leading CRLFs.
//! `differential/grammar.rs` generates more with proptest.
//!
//! A case that differs is looked at again with a 2 s quiet window (a slow answer on this
//! shared machine must not pass for a different one); it fails if it differs again, and
//! the failure prints the case's bytes and both outcomes.
//!
//! hyper's own answer depends on timing in three places, which the cases keep clear of so
//! that hyper agrees with itself from run to run:
//! - a request body that has not arrived when the handler returns without reading it makes
//!   hyper close the connection after the response; one that came with the head is drained
//!   and the connection kept. A body meant to come later comes after a 150 ms pause.
//! - a FIN read before the response is written drops the request unanswered (hyper's
//!   `half_close` is off), so a client half-closes 150 ms after its last byte.
//! - a head that grows past 408 KiB while incomplete is refused with 431, but a bigger one
//!   that arrives in a single read is parsed (500 KiB in one write was accepted every time
//!   here): the 500 KiB head comes in 16 KiB pieces, and a 1 MiB head is always refused.
//!
//! ## Deliberate differences
//!
//! No case here may differ: every one must come out the same. The one difference on purpose
//! is time: `axum::serve` sets no timer, so a connection may take forever to send its head
//! or sit idle forever, while sse-lean closes it after `Options::head_timeout` (30 s) or
//! `Options::idle_timeout` (60 s), and when out of files closes the one that waited longest.
//! No case here waits that long; `tests/limits.rs` and `tests/out_of_files.rs` cover them.

#[path = "differential/case.rs"]
mod case;
#[path = "differential/client.rs"]
mod client;
#[path = "differential/corpus.rs"]
mod corpus;
#[path = "differential/grammar.rs"]
mod grammar;
#[path = "differential/replay.rs"]
mod replay;
#[path = "differential/response.rs"]
mod response;
#[path = "differential/servers.rs"]
mod servers;

use case::Case;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use servers::Servers;

/// Generated batches, and the most cases in one (replayed at the same time): some 430
/// cases, about 20 s on two cores.
const GENERATED_BATCHES: u32 = 96;
const GENERATED_PER_BATCH: usize = 8;

/// Replays `cases` on a fresh pair of servers, then stops them.
fn replay_all(cases: &[Case]) {
    let servers = Servers::start();
    replay::assert_same(cases, &servers);
    servers.stop();
}

#[test]
fn request_bodies_are_consumed_or_refused_as_hyper_does() {
    replay_all(&corpus::bodies());
}

#[test]
fn pipelined_requests_are_answered_in_order_as_hyper_does() {
    replay_all(&corpus::pipelines());
}

#[test]
fn requests_sent_while_a_stream_runs_are_answered_as_hyper_does() {
    replay_all(&corpus::running_streams());
}

#[test]
fn http_versions_and_connection_tokens_are_honoured_as_hyper_does() {
    replay_all(&corpus::versions_and_connection());
}

#[test]
fn upgrade_and_expect_are_handled_as_hyper_does() {
    replay_all(&corpus::upgrade_and_expect());
}

#[test]
fn oversized_split_and_cut_heads_are_handled_as_hyper_does() {
    replay_all(&corpus::heads());
}

#[test]
fn malformed_and_odd_requests_are_answered_as_hyper_does() {
    replay_all(&corpus::malformed_and_odd());
}

#[test]
fn generated_requests_are_framed_as_hyper_frames_them() {
    let servers = Servers::start();
    let config = Config {
        cases: GENERATED_BATCHES,
        // A failing batch is replayed at each step: bounded, the failure comes in minutes.
        max_shrink_iters: 64,
        max_shrink_time: 90_000,
        // The failure prints the smallest case found; nothing is written to the source tree.
        failure_persistence: None,
        ..Config::default()
    };
    let batches = proptest::collection::vec(grammar::case(), 1..=GENERATED_PER_BATCH);
    let result = TestRunner::new(config).run(&batches, |cases| {
        let found = replay::mismatches(&cases, &servers);
        match found.is_empty() {
            true => Ok(()),
            false => Err(TestCaseError::fail(replay::report(&found, cases.len()))),
        }
    });
    servers.stop();
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
