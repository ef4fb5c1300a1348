//! The smallest app on the lean path: a hub that publishes the time every second, streamed at
//! `GET /sse` to every subscriber. `cargo run -p sse-lean --example minimal`, then
//! `curl -N http://127.0.0.1:3000/sse`.

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use sse_hub::{Hub, StreamOptions};
use sse_lean::{Lean, Reply};
use std::{num::NonZeroUsize, time::Duration};

async fn sse(State(hub): State<Hub<String>>, reply: Reply) -> axum::response::Response {
    let options = StreamOptions {
        retry: Duration::from_secs(3),
        heartbeat: Duration::from_secs(15),
        limit: None,
        stop: Default::default(),
    };
    match hub.subscribe(None) {
        Some(subscription) => reply.stream(subscription.into_delivery(options), ()),
        None => StatusCode::NO_CONTENT.into_response(), // the stream is over
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let size = |n| NonZeroUsize::new(n).unwrap();
    let hub: Hub<String> = Hub::new(size(1024), size(64));
    let publisher = hub.clone();
    tokio::spawn(async move {
        loop {
            publisher.publish(|index| format!("tick {index}"));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let router = Router::new().route("/sse", get(sse)).with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    Lean::default().serve(listener, router, hub.doorbell(), std::future::pending()).await
}
