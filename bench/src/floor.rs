//! `sse-load floor`: the cost no SSE server can go below. One thread writes the same bytes
//! to N loopback sockets with plain blocking `write()`, once per interval, and its own CPU
//! time is measured. Loopback delivery is charged to the writer, so this is what the
//! server's socket writes alone cost. The reading ends live in a child process
//! (`sse-load drain`), so the writer's process holds only its N sockets.

use crate::child::{Running, command};
use crate::target::source_addr;
use crate::{Error, Workload, procfs};
use serde::Serialize;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How long the readers may take to connect before the run gives up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);
/// Loopback source addresses the readers connect from: 8 × ~28k ephemeral ports.
const READER_SOURCE_ADDRS: usize = 8;
/// Open files kept for what is not a socket.
const SPARE_FILES: u64 = 64;

/// Flags of `sse-load floor`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub workload: Workload,
    /// Bytes per write: about one SSE event.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub bytes: u64,
}

/// Flags of the hidden `sse-load drain`: the floor's reading ends.
#[derive(Clone, Debug, clap::Args)]
pub struct DrainOptions {
    /// The floor's listener, on loopback.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Connections to open and read until the writer closes them.
    #[arg(long)]
    pub connections: u64,
}

/// What the writer thread spent.
#[derive(Debug, Serialize)]
pub struct Report {
    pub subscribers: u64,
    pub interval_ms: u64,
    pub bytes: u64,
    pub writes: u64,
    pub writer_cpu_secs: f64,
    pub cpu_secs_per_million_writes: f64,
    /// The most a round started after its planned time: above the interval, the writer
    /// could not keep up with the rate asked.
    pub max_round_delay_ms: f64,
}

/// Opens the sockets, writes for `--duration-secs`, and reports the writer's CPU time.
pub fn run(options: &Options) -> Result<Report, Error> {
    crate::open_files_for(options.workload.subscribers + SPARE_FILES, "--subscribers")?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding a loopback listener"))?;
    let addr = listener.local_addr().map_err(io("reading the listener's address"))?;
    let exe = std::env::current_exe().map_err(io("finding this program"))?;
    let mut drain = command(exe);
    drain.args(["drain", "--addr", &addr.to_string(), "--connections"]);
    drain.arg(options.workload.subscribers.to_string());
    let mut readers = Running::spawn("the floor's readers", &mut drain)?;
    let sockets = accept(&listener, options.workload.subscribers, &mut readers)?;
    eprintln!("sse-load: floor: writing to {} sockets", sockets.len());
    write_rounds(sockets, options)
}

/// Accepts `count` connections, giving up if the readers die or take too long.
fn accept(
    listener: &TcpListener,
    count: u64,
    readers: &mut Running,
) -> Result<Vec<TcpStream>, Error> {
    listener.set_nonblocking(true).map_err(io("setting the listener non-blocking"))?;
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(count as usize);
    while (sockets.len() as u64) < count {
        match listener.accept() {
            Ok((socket, _)) => sockets.push(writer_socket(socket)?),
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                if let Some(exit) = readers.exited() {
                    return Err(Error::Io(format!("floor: {exit} before connecting")));
                }
                if started.elapsed() > CONNECT_PATIENCE {
                    let why = format!(
                        "only {} of {count} connected in {CONNECT_PATIENCE:?}",
                        sockets.len()
                    );
                    return Err(Error::Io(format!("floor: {why}")));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(err) => return Err(Error::Io(format!("floor: accept: {err}"))),
        }
    }
    Ok(sockets)
}

/// A blocking socket that sends at once, as an SSE server's sockets do.
fn writer_socket(socket: TcpStream) -> Result<TcpStream, Error> {
    socket.set_nonblocking(false).map_err(io("making a socket blocking"))?;
    socket.set_nodelay(true).map_err(io("setting TCP_NODELAY"))?;
    Ok(socket)
}

/// Writes `--bytes` to every socket once per interval, measuring this thread's CPU time.
fn write_rounds(mut sockets: Vec<TcpStream>, options: &Options) -> Result<Report, Error> {
    let frame = frame(options.bytes as usize);
    let interval = Duration::from_millis(options.workload.interval_ms);
    let rounds = (options.workload.duration_secs * 1000).div_ceil(options.workload.interval_ms);
    let cpu_before = procfs::this_thread_cpu()?;
    let started = Instant::now();
    let mut max_delay = Duration::ZERO;
    for round in 0..rounds {
        let planned = started + interval * round as u32;
        std::thread::sleep(planned.saturating_duration_since(Instant::now()));
        max_delay = max_delay.max(planned.elapsed());
        for socket in &mut sockets {
            socket.write_all(&frame).map_err(io("floor: writing"))?;
        }
    }
    let cpu = procfs::this_thread_cpu()?.saturating_sub(cpu_before).as_secs_f64();
    let writes = rounds * sockets.len() as u64;
    Ok(Report {
        subscribers: sockets.len() as u64,
        interval_ms: options.workload.interval_ms,
        bytes: options.bytes,
        writes,
        writer_cpu_secs: cpu,
        cpu_secs_per_million_writes: cpu * 1e6 / writes as f64,
        max_round_delay_ms: max_delay.as_secs_f64() * 1000.0,
    })
}

/// `bytes` bytes shaped like an SSE event: a `data:` line and the blank line.
fn frame(bytes: usize) -> Vec<u8> {
    let mut frame = b"data: ".to_vec();
    frame.resize(bytes.saturating_sub(2).max(frame.len()), b'x');
    frame.extend_from_slice(b"\n\n");
    frame.truncate(bytes);
    frame
}

/// `sse-load drain`: connects to the floor's listener and reads every socket until it closes.
pub fn drain(options: &DrainOptions) -> Result<(), Error> {
    if !options.addr.ip().is_loopback() {
        return Err(Error::Flag { flag: "--addr", why: "must be on loopback".into() });
    }
    crate::open_files_for(options.connections + SPARE_FILES, "--connections")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("starting the runtime"))?;
    runtime.block_on(async {
        let mut readers = tokio::task::JoinSet::new();
        for index in 0..options.connections {
            let source = source_addr(index as usize, READER_SOURCE_ADDRS);
            let socket = tokio::net::TcpSocket::new_v4().map_err(io("drain: socket"))?;
            socket.bind(SocketAddr::new(source.into(), 0)).map_err(io("drain: bind"))?;
            let stream = socket.connect(options.addr).await.map_err(io("drain: connect"))?;
            readers.spawn(read_to_end(stream));
        }
        while readers.join_next().await.is_some() {}
        Ok(())
    })
}

/// Reads and forgets until the peer closes.
async fn read_to_end(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 4096];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            break;
        }
    }
}

/// Turns an I/O error into an [`Error`] that says what was being done.
fn io(doing: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |err| Error::Io(format!("{doing}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_asked_size_and_end_an_event() {
        for bytes in [8, 100, 513] {
            let frame = frame(bytes);
            assert_eq!(frame.len(), bytes);
            assert!(frame.starts_with(b"data: ") && frame.ends_with(b"\n\n"));
        }
    }
}
