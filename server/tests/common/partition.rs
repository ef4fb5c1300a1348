//! A TCP proxy on loopback that a test can cut, stall and restore: a network partition
//! between one instance and Redis, as a switch or a cloud network makes them.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the link does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Bytes flow both ways.
    Up,
    /// Every connection is closed, and new ones are closed as they arrive.
    Cut,
    /// Connections stay open and new ones are accepted, but no byte goes through until the
    /// link is up again (or is cut): a black hole, as a dropped route makes.
    Stalled,
}

/// The proxy: listens on a free loopback port and forwards to `upstream`. Stops when dropped.
pub struct PartitionProxy {
    port: u16,
    link: watch::Sender<Link>,
    accepting: JoinHandle<()>,
}

impl PartitionProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let (link, _) = watch::channel(Link::Up);
        let accepting = tokio::spawn(accept(listener, upstream, link.clone()));
        Self { port, link, accepting }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }

    pub fn link(&self) -> Link {
        *self.link.borrow()
    }
}

impl Drop for PartitionProxy {
    fn drop(&mut self) {
        self.set(Link::Cut);
        self.accepting.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, link: watch::Sender<Link>) {
    while let Ok((client, _)) = listener.accept().await {
        if *link.borrow() == Link::Cut {
            continue; // dropped: closed at once
        }
        tokio::spawn(forward(client, upstream, link.subscribe()));
    }
}

/// Carries one connection until either side closes or the link is cut.
async fn forward(client: TcpStream, upstream: SocketAddr, mut link: watch::Receiver<Link>) {
    if !passable(&mut link).await {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = pump(client_read, server_write, link.clone()) => {}
        () = pump(server_read, client_write, link.clone()) => {}
        () = cut(&mut link) => {}
    }
}

/// Copies one direction, holding each chunk while the link is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if !passable(&mut link).await || to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// Waits while the link is stalled; `false` once it is cut.
async fn passable(link: &mut watch::Receiver<Link>) -> bool {
    loop {
        match *link.borrow_and_update() {
            Link::Up => return true,
            Link::Cut => return false,
            Link::Stalled => {}
        }
        if link.changed().await.is_err() {
            return false;
        }
    }
}

/// Returns once the link is cut.
async fn cut(link: &mut watch::Receiver<Link>) {
    let _ = link.wait_for(|state| *state == Link::Cut).await;
}
