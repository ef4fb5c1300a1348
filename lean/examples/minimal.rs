//! The smallest app on the lean path: a hub that publishes the time every second, streamed at
//! `GET /sse` to every subscriber, resumable, and shut down cleanly by Ctrl-C.
//! `cargo run -p sse-lean --example minimal`, then `curl -N http://127.0.0.1:3000/sse`.

use axum::{Router, extract::State, response::Response, routing::get};
use sse_lean::{Hub, LastEventId, Lean, Reply, StreamOptions};
use std::time::Duration;

async fn sse(State(hub): State<Hub<String>>, last: LastEventId, reply: Reply) -> Response {
    reply.subscribe(&hub, last, StreamOptions::default())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let hub: Hub<String> = Hub::default();
    let publisher = hub.clone();
    tokio::spawn(async move {
        loop {
            publisher.publish(|index| format!("tick {index}"));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let router = Router::new().route("/sse", get(sse)).with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let ctrl_c = async { tokio::signal::ctrl_c().await.expect("Ctrl-C can be watched") };
    Lean::default().serve(listener, router).with_graceful_shutdown(ctrl_c).await
}
