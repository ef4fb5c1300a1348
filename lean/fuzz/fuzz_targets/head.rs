//! Any bytes at the start of a connection's buffer: the head parser must not panic, and
//! what it answers must hold together (see `sse_lean::fuzz_head`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_lean::fuzz_head;

/// The longest head the parser reads itself (`head::MAX_HEAD`).
const MAX_HEAD: usize = 64 * 1024;

fuzz_target!(|buf: &[u8]| {
    match fuzz_head(buf) {
        // "Read more" only while the buffer is shorter than the longest head.
        None => assert!(buf.len() < MAX_HEAD, "asked for more after {} bytes", buf.len()),
        Some(None) => {}
        // A clean request's head lies within the buffer, and alone reads the same.
        Some(Some(len)) => {
            assert!(0 < len && len <= buf.len(), "head of {len} in {} bytes", buf.len());
            assert_eq!(fuzz_head(&buf[..len]), Some(Some(len)), "the head alone");
        }
    }
});
