//! The listening socket: this process's own, or shared with other instances on the same
//! port (`--reuse-port`, `SO_REUSEPORT`), where the kernel spreads new connections among
//! them, so several instances serve one address without a proxy in front.

use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Connections waiting to be accepted, as tokio's own `TcpListener::bind` asks for.
const BACKLOG: i32 = 1024;

/// Listens on `addr`; with `reuse_port`, other processes that ask for it may listen there too.
pub async fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    if !reuse_port {
        return TcpListener::bind(addr).await;
    }
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    // As tokio does: a restarted instance may bind while old connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}
