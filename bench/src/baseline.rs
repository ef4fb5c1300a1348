//! `sse-load baseline`: the plain axum SSE server livenames is measured against, written
//! the way axum's SSE example and most tutorials do it: a task sends each event into a
//! `tokio::sync::broadcast` channel, and `GET /sse` turns a receiver into a
//! `BroadcastStream` of `Event`s answered as `Sse` with `KeepAlive`. `GET /healthz`
//! answers as livenames' does, so a run with `--reuse-connection` warms up on both alike.
//!
//! It streams the same shape as livenames (`retry:`, `id: <epoch>-<index>`, a JSON payload
//! of 10 names, `info` and `index`) and, like livenames, sets `TCP_NODELAY`; it shares no
//! code with livenames on purpose, so it stays the normal implementation it stands for.

use crate::Error;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use futures::Stream;
use serde::Serialize;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

/// Events a subscriber may fall behind before it skips some (tokio's broadcast drops the
/// oldest for it); axum's and tokio's examples use capacities of this order.
const CHANNEL_CAPACITY: usize = 16;
/// `retry:` on every event, livenames' default.
const RETRY: Duration = Duration::from_secs(10);
/// Rows per event, as in livenames.
const NAMES_PER_EVENT: u64 = 10;

/// Flags of `sse-load baseline`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Loopback address and port to listen on (port 0 picks a free one; the chosen address
    /// is printed as `listening on http://…`).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Milliseconds between two events.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_ms: u64,
}

/// One event as every subscriber's stream receives it from the channel.
#[derive(Clone, Debug)]
struct Published {
    id: String,
    json: String,
}

/// An event's payload in livenames' shape; `info` is when it was made, which the tally
/// times the delivery from. `hubs-server` publishes it too.
#[derive(Serialize)]
pub(crate) struct Payload {
    list: Vec<Entry>,
    info: String,
    index: u64,
}

impl Payload {
    /// The `index`-th event's payload, stamped now.
    pub(crate) fn now(index: u64) -> Self {
        Self { list: names(index), info: now_rfc3339(), index }
    }
}

#[derive(Serialize)]
struct Entry {
    name: String,
    value: u32,
}

/// Serves `GET /sse` until the process is killed.
pub fn run(options: &Options) -> Result<(), Error> {
    server_runtime(options.addr)?
        .block_on(serve(options.addr, Duration::from_millis(options.interval_ms)))
}

/// The runtime of a server listening on `addr` (`--addr`), once `addr` is known to be on
/// loopback and the open-files limit is raised: each stream holds a socket, so as many as
/// the hard limit allows.
pub(crate) fn server_runtime(addr: SocketAddr) -> Result<tokio::runtime::Runtime, Error> {
    if !addr.ip().is_loopback() {
        let why = format!("must be a loopback address, not {addr}");
        return Err(Error::Flag { flag: "--addr", why });
    }
    open_files::raise()?;
    tokio::runtime::Runtime::new().map_err(|err| Error::Io(format!("starting the runtime: {err}")))
}

/// Listens on `addr` and announces the address it got as `listening on http://…` on
/// stdout, where [`crate::servers::readiness`] looks for it.
pub(crate) async fn listen(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| Error::Io(format!("cannot listen on {addr} (--addr): {err}")))?;
    let local = listener.local_addr().map_err(|err| Error::Io(err.to_string()))?;
    println!("listening on http://{local}");
    std::io::stdout().flush().map_err(|err| Error::Io(err.to_string()))?;
    Ok(listener)
}

async fn serve(addr: SocketAddr, interval: Duration) -> Result<(), Error> {
    let listener = listen(addr).await?;
    let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
    tokio::spawn(publish(sender.clone(), interval));
    let app =
        Router::new().route("/sse", get(sse)).route("/healthz", get(healthz)).with_state(sender);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.map_err(|err| Error::Io(format!("serving: {err}")))
}

/// `GET /sse`: the live events from now on, and a keep-alive comment every 15 s.
async fn sse(
    State(sender): State<broadcast::Sender<Published>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(sender.subscribe())
        // A subscriber that lagged skips what it missed.
        .filter_map(|received| received.ok())
        .map(|published| Ok(Event::default().retry(RETRY).id(published.id).data(published.json)));
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// `GET /healthz`: the ordinary request a reused connection serves before its stream.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Sends an event every `interval`, the first one `interval` after start.
async fn publish(sender: broadcast::Sender<Published>, interval: Duration) {
    let epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ticks = interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for index in 1.. {
        ticks.tick().await;
        let json = serde_json::to_string(&Payload::now(index))
            .expect("the payload is plain strings and numbers");
        // No subscribers is no error.
        let _ = sender.send(Published { id: format!("{}-{index}", epoch.as_millis()), json });
    }
}

/// Ten three-character names that change with every event, as long in UTF-8 as livenames'.
fn names(index: u64) -> Vec<Entry> {
    (0..NAMES_PER_EVENT)
        .map(|row| {
            let value = ((index * 7919 + row * 104_729) % 568) as u32;
            let name = [value, value + 15, value + 5]
                .into_iter()
                .filter_map(|offset| char::from_u32(0x4E00 + offset))
                .collect();
            Entry { name, value }
        })
        .collect()
}

/// Now, as RFC 3339 in UTC with milliseconds, as livenames stamps `info`.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_livenames_shape() {
        let json: serde_json::Value = serde_json::to_value(Payload::now(3)).unwrap();
        let list = json["list"].as_array().unwrap();
        assert_eq!(list.len(), 10);
        assert!(list.iter().all(|entry| entry["name"].as_str().unwrap().chars().count() == 3));
        assert!(humantime::parse_rfc3339(json["info"].as_str().unwrap()).is_ok());
        assert_eq!(json["index"], 3);
    }
}
