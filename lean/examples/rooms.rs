//! Chat rooms made at run time, each its own hub, all served by one `Lean`: a room is made by
//! its first message and closed by `DELETE`, and a client that reconnects resumes where it
//! left off. `cargo run -p sse-lean --example rooms`, then:
//!
//! ```text
//! curl -N http://127.0.0.1:3000/rooms/rust              # listen (Last-Event-ID resumes)
//! curl -d 'hello' http://127.0.0.1:3000/rooms/rust      # say something
//! curl -d 'brb' 'http://127.0.0.1:3000/rooms/rust?event=away' # a named event: `event: away`
//! curl -X DELETE http://127.0.0.1:3000/rooms/rust       # close the room: listeners get `close`
//! ```

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Router, routing::get};
use sse_lean::{EventName, Hub, LastEventId, Lean, Reply, StreamOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The open rooms by name. A room's hub lives as long as it is in the map or has listeners.
#[derive(Clone, Default)]
struct Rooms(Arc<Mutex<HashMap<String, Hub<String>>>>);

impl Rooms {
    /// The room's hub, made if it is new.
    fn get_or_open(&self, name: &str) -> Hub<String> {
        let mut rooms = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        rooms.entry(name.to_owned()).or_default().clone()
    }

    /// Takes the room out; its listeners get `close` and their streams end.
    fn close(&self, name: &str) -> bool {
        let mut rooms = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        let closed = rooms.remove(name);
        closed.map(|hub| hub.close("the room was closed")).is_some()
    }
}

async fn listen(
    State(rooms): State<Rooms>,
    Path(name): Path<String>,
    last: LastEventId,
    reply: Reply,
) -> Response {
    reply.subscribe(&rooms.get_or_open(&name), last, StreamOptions::default())
}

/// Publishes `text`, under the name `?event=` gives (for a page's `addEventListener`), else
/// as a `message`; a name that is not one is a 400 saying why.
async fn say(
    State(rooms): State<Rooms>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    text: String,
) -> Result<StatusCode, (StatusCode, String)> {
    let event = match query.get("event") {
        Some(event) => EventName::new(event.clone())
            .map_err(|invalid| (StatusCode::BAD_REQUEST, invalid.to_string()))?,
        None => EventName::MESSAGE,
    };
    rooms.get_or_open(&name).publish_named(&event, |_| text);
    Ok(StatusCode::NO_CONTENT)
}

async fn close(State(rooms): State<Rooms>, Path(name): Path<String>) -> StatusCode {
    match rooms.close(&name) {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::NOT_FOUND,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let router = Router::new()
        .route("/rooms/{name}", get(listen).post(say).delete(close))
        .with_state(Rooms::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let ctrl_c = async { tokio::signal::ctrl_c().await.expect("Ctrl-C can be watched") };
    Lean::default().serve(listener, router).with_graceful_shutdown(ctrl_c).await
}
