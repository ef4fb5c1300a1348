//! Start-up configuration: one struct, parsed from flags with environment fallbacks.
//! `server --help` is the reference; the README's table mirrors it.

use crate::layers::AllowedOrigin;
use clap::Parser;
use clap::builder::TypedValueParser;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::ops::RangeFrom;
use std::path::PathBuf;
use std::time::Duration;

/// livenames: a live table of names pushed to the browser over Server-Sent Events.
#[derive(Clone, Debug, Parser)]
#[command(name = "livenames", version, about)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Milliseconds between two events on the stream (at least 1).
    #[arg(
        long = "interval-ms",
        env = "LIVENAMES_INTERVAL_MS",
        value_name = "MS",
        default_value = "3000",
        value_parser = millis(1..)
    )]
    pub interval: Duration,

    /// `retry:` sent with every event: milliseconds a browser waits before reconnecting.
    #[arg(
        long = "retry-ms",
        env = "LIVENAMES_RETRY_MS",
        value_name = "MS",
        default_value = "10000",
        value_parser = millis(0..)
    )]
    pub retry: Duration,

    /// End the stream after this many events with `event: close` (0 = endless).
    // Spelled `::std::option::Option` so that clap reads it as one value that defaults to
    // `0` (= `None`), not as a flag that may be left out.
    #[arg(
        long,
        env = "LIVENAMES_MAX_EVENTS",
        value_name = "N",
        default_value = "0",
        value_parser = clap::value_parser!(u64).map(NonZeroU64::new)
    )]
    pub max_events: ::std::option::Option<NonZeroU64>,

    /// Events kept for browsers that resume with `Last-Event-ID` (at least 1).
    #[arg(
        long,
        env = "LIVENAMES_HISTORY",
        value_name = "EVENTS",
        default_value_t = NonZeroUsize::new(1024).unwrap()
    )]
    pub history: NonZeroUsize,

    /// Seconds a stream may stay silent before a `ping` heartbeat event (at least 1).
    #[arg(
        long = "keepalive-secs",
        env = "LIVENAMES_KEEPALIVE_SECS",
        value_name = "SECS",
        default_value = "15",
        value_parser = secs(1..)
    )]
    pub keepalive: Duration,

    /// Folder holding the built site: `pkg/` with the WASM, JS and CSS.
    #[arg(long, env = "LEPTOS_SITE_ROOT", value_name = "DIR", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Open SSE streams at most; beyond it `GET /sse` is told to come back later: an
    /// EventSource with only `retry:`, other clients with `503` and `Retry-After`.
    #[arg(
        long,
        env = "LIVENAMES_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_connections: u32,

    /// Seconds a write to a client may make no progress before its connection is closed: a
    /// subscriber that stops reading must not hold a connection and its buffers (at least 1).
    #[arg(
        long = "stall-timeout-secs",
        env = "LIVENAMES_STALL_TIMEOUT_SECS",
        value_name = "SECS",
        default_value = "30",
        value_parser = secs(1..)
    )]
    pub stall_timeout: Duration,

    /// Seconds a client may take to send a whole request head, from its first byte (or from
    /// connecting): a client that trickles or stalls must not hold a connection (at least 1).
    #[arg(
        long = "head-timeout-secs",
        env = "LIVENAMES_HEAD_TIMEOUT_SECS",
        value_name = "SECS",
        default_value = "30",
        value_parser = secs(1..)
    )]
    pub head_timeout: Duration,

    /// Seconds a kept-alive connection may wait for its next request before it is closed
    /// (at least 1).
    #[arg(
        long = "idle-timeout-secs",
        env = "LIVENAMES_IDLE_TIMEOUT_SECS",
        value_name = "SECS",
        default_value = "60",
        value_parser = secs(1..)
    )]
    pub idle_timeout: Duration,

    /// Seconds to wait for open connections after SIGINT/SIGTERM before exiting anyway.
    #[arg(
        long = "shutdown-timeout-secs",
        env = "LIVENAMES_SHUTDOWN_TIMEOUT_SECS",
        value_name = "SECS",
        default_value = "5",
        value_parser = secs(0..)
    )]
    pub shutdown_timeout: Duration,

    /// An origin whose pages may read this server cross-origin (GET only), like
    /// `https://example.com`; repeat it, or separate origins with commas. None: same origin only.
    #[arg(long, env = "LIVENAMES_ALLOW_ORIGIN", value_name = "ORIGIN", value_delimiter = ',')]
    pub allow_origin: Vec<AllowedOrigin>,

    /// Share the port of `--addr` with other instances on this host that set it too
    /// (`SO_REUSEPORT`): the kernel spreads new connections among them. Use with `--redis-url`.
    #[arg(long, env = "LIVENAMES_REUSE_PORT", default_value_t = false)]
    pub reuse_port: bool,

    /// Redis to share the stream with other instances through, like `redis://127.0.0.1:6379/`.
    /// None: the stream lives in this process only.
    #[arg(long, env = "LIVENAMES_REDIS_URL", value_name = "URL", value_parser = redis_url)]
    pub redis_url: Option<String>,

    /// Prefix of the Redis keys: `<key>:events` (the stream), `<key>:epoch`, `<key>:leader`, `<key>:term`.
    #[arg(
        long,
        env = "LIVENAMES_REDIS_KEY",
        value_name = "KEY",
        default_value = "livenames",
        value_parser = redis_key
    )]
    pub redis_key: String,

    /// Milliseconds the publishing instance's lease in Redis lasts unless renewed; another
    /// instance takes over within twice this after the publisher dies (at least 100).
    #[arg(
        long = "lease-ms",
        env = "LIVENAMES_LEASE_MS",
        value_name = "MS",
        default_value = "3000",
        value_parser = millis(100..)
    )]
    pub lease: Duration,
}

/// Whole milliseconds in `range`, as a `Duration`; clap's own range check words the errors.
fn millis(range: RangeFrom<u64>) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64).range(range).map(Duration::from_millis)
}

/// Whole seconds in `range`, as a `Duration`; clap's own range check words the errors.
fn secs(range: RangeFrom<u64>) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64).range(range).map(Duration::from_secs)
}

/// A key prefix: any text but the empty one.
fn redis_key(text: &str) -> Result<String, String> {
    match text {
        "" => Err("the key prefix must not be empty".to_string()),
        text => Ok(text.to_string()),
    }
}

/// A Redis URL, checked without connecting.
fn redis_url(text: &str) -> Result<String, String> {
    sse_hub::RedisOptions::check_url(text).map(|()| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("livenames").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_follow_the_classic_example() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.interval, Duration::from_secs(3));
        assert_eq!(config.retry, Duration::from_secs(10));
        assert_eq!(config.max_events, None);
        assert_eq!(config.history.get(), 1024);
        assert_eq!(config.keepalive, Duration::from_secs(15));
        assert_eq!(config.max_connections, 10_000);
        assert_eq!(config.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(config.stall_timeout, Duration::from_secs(30));
        assert_eq!(config.head_timeout, Duration::from_secs(30));
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
        assert!(config.allow_origin.is_empty(), "same origin only");
        assert_eq!(config.redis_url, None, "the stream lives in this process");
        assert_eq!(config.redis_key, "livenames");
        assert_eq!(config.lease, Duration::from_secs(3));
        assert!(!config.reuse_port, "the port is this process's own");
    }

    #[test]
    fn origins_repeat_or_come_comma_separated() {
        let config = parse(&[
            "--allow-origin",
            "https://a.example",
            "--allow-origin=http://b.example:8080,HTTP://C.Example",
        ])
        .unwrap();
        let origins: Vec<&str> = config.allow_origin.iter().map(AllowedOrigin::as_str).collect();
        assert_eq!(origins, ["https://a.example", "http://b.example:8080", "http://c.example"]);
    }

    #[test]
    fn flags_override_defaults() {
        let config = parse(&[
            "--addr",
            "127.0.0.1:0",
            "--interval-ms",
            "50",
            "--retry-ms",
            "0",
            "--max-events",
            "3",
            "--keepalive-secs",
            "2",
            "--stall-timeout-secs",
            "4",
            "--shutdown-timeout-secs",
            "0",
            "--lease-ms",
            "150",
        ])
        .unwrap();
        assert_eq!(config.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.interval, Duration::from_millis(50));
        assert_eq!(config.retry, Duration::ZERO);
        assert_eq!(config.max_events, NonZeroU64::new(3));
        assert_eq!(config.keepalive, Duration::from_secs(2));
        assert_eq!(config.stall_timeout, Duration::from_secs(4));
        assert_eq!(config.shutdown_timeout, Duration::ZERO);
        assert_eq!(config.lease, Duration::from_millis(150));
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (&["--interval-ms", "0"][..], "--interval-ms"),
            (&["--interval-ms", "soon"][..], "--interval-ms"),
            (&["--retry-ms=-1"][..], "--retry-ms"),
            (&["--max-events", "many"][..], "--max-events"),
            (&["--addr", "localhost"][..], "--addr"),
            (&["--history", "0"][..], "--history"),
            (&["--keepalive-secs", "0"][..], "--keepalive-secs"),
            (&["--max-connections", "0"][..], "--max-connections"),
            (&["--max-connections=-3"][..], "--max-connections"),
            (&["--shutdown-timeout-secs", "soon"][..], "--shutdown-timeout-secs"),
            (&["--allow-origin", "example.com"][..], "--allow-origin"),
            (&["--allow-origin", "https://example.com/"][..], "--allow-origin"),
            (&["--allow-origin", "https://example.com/page"][..], "--allow-origin"),
            (&["--allow-origin", "ftp://example.com"][..], "--allow-origin"),
            (&["--allow-origin", "https://user@example.com"][..], "--allow-origin"),
            (&["--allow-origin", "*"][..], "--allow-origin"),
            (&["--allow-origin", ""][..], "--allow-origin"),
            (&["--redis-url", "127.0.0.1:6379"][..], "--redis-url"),
            (&["--redis-url", "http://127.0.0.1/"][..], "--redis-url"),
            (&["--redis-key", ""][..], "--redis-key"),
            (&["--lease-ms", "99"][..], "--lease-ms"),
            (&["--lease-ms", "soon"][..], "--lease-ms"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{args:?}");
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }
}
