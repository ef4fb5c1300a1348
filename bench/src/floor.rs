//! `sse-load floor`: the cost no SSE server can go below. One thread per core writes the
//! same bytes to its share of N loopback sockets with plain blocking `write()`, once per
//! interval, and their CPU time is measured. Loopback delivery is charged to the writer, so
//! this is what the server's socket writes alone cost. The reading ends live in a child
//! process (`sse-load drain`), so the writers' process holds only its N sockets; each write
//! carries the time its round started, and the readers report how long after it arrived:
//! the latency no server can go below either.

use crate::child::{Running, this_program};
use crate::client::tally::{self, Latency};
use crate::client::target::source_addr;
use crate::{Error, Workload, procfs};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the readers may take to connect before the run gives up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(60);
/// Loopback source addresses the readers connect from: 8 × ~28k ephemeral ports.
const READER_SOURCE_ADDRS: usize = 8;
/// Where a write's send time sits: after `data: `, as microseconds since the Unix epoch.
const STAMP_AT: usize = 6;
const STAMP_DIGITS: usize = 16;
/// The shortest write that holds `data: `, the stamp and the blank line.
pub const MIN_BYTES: u64 = (STAMP_AT + STAMP_DIGITS + 2) as u64;

/// Flags of `sse-load floor`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub workload: Workload,
    /// Bytes per write: about one SSE event.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(MIN_BYTES..=1_000_000))]
    pub bytes: u64,
    /// Threads writing, each to its share of the sockets (default: one per core, as
    /// livenames has one writer per runtime thread).
    #[arg(long)]
    pub writer_threads: Option<NonZeroUsize>,
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
    /// Bytes per write, each starting with its send time.
    #[arg(long, value_parser = clap::value_parser!(u64).range(MIN_BYTES..=1_000_000))]
    pub bytes: u64,
}

/// What the writer threads spent, and how long after its round started each write arrived.
#[derive(Debug, Serialize)]
pub struct Report {
    pub subscribers: u64,
    pub interval_ms: u64,
    pub bytes: u64,
    pub writer_threads: usize,
    pub writes: u64,
    pub writer_cpu_secs: f64,
    pub cpu_secs_per_million_writes: f64,
    /// The most a round started after its planned time: above the interval, the writers
    /// could not keep up with the rate asked.
    pub max_round_delay_ms: f64,
    /// Round start to the write's last byte read, over every write; `None` if the readers
    /// did not report.
    pub latency_ms: Option<Latency>,
}

/// What one writer thread did.
struct Rounds {
    cpu: Duration,
    max_delay: Duration,
}

/// Opens the sockets, writes for `--duration-secs`, and reports the writers' CPU time and
/// the readers' latency.
pub fn run(options: &Options) -> Result<Report, Error> {
    crate::open_files_for(options.workload.subscribers, "--subscribers")?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding a loopback listener"))?;
    let addr = listener.local_addr().map_err(io("reading the listener's address"))?;
    let mut drain = this_program()?;
    drain.args(["drain", "--addr", &addr.to_string(), "--connections"]);
    drain.arg(options.workload.subscribers.to_string());
    drain.args(["--bytes", &options.bytes.to_string()]).stdout(Stdio::piped());
    let mut readers = Running::spawn("the floor's readers", &mut drain)?;
    let sockets = accept(&listener, options.workload.subscribers, &mut readers)?;
    let threads = writer_threads(options);
    eprintln!("sse-load: floor: {threads} threads writing to {} sockets", sockets.len());
    let rounds = write_rounds(sockets, threads, options)?;
    Ok(report(&rounds, readers_latency(&mut readers), options))
}

/// `--writer-threads`, or one per core.
fn writer_threads(options: &Options) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    options.writer_threads.map_or(cores, NonZeroUsize::get)
}

/// The figures of a run whose writer threads did `rounds`, and whose readers saw `latency`.
fn report(rounds: &[Rounds], latency: Option<Latency>, options: &Options) -> Report {
    let subscribers = options.workload.subscribers;
    let writes = round_count(options) * subscribers;
    let cpu: f64 = rounds.iter().map(|r| r.cpu.as_secs_f64()).sum();
    let max_delay = rounds.iter().map(|r| r.max_delay).max().unwrap_or_default();
    Report {
        subscribers,
        interval_ms: options.workload.interval_ms,
        bytes: options.bytes,
        writer_threads: rounds.len(),
        writes,
        writer_cpu_secs: cpu,
        cpu_secs_per_million_writes: cpu * 1e6 / writes as f64,
        max_round_delay_ms: max_delay.as_secs_f64() * 1000.0,
        latency_ms: latency,
    }
}

/// The latency the readers print once every socket has closed.
fn readers_latency(readers: &mut Running) -> Option<Latency> {
    let mut printed = String::new();
    readers.take_stdout()?.read_to_string(&mut printed).ok()?;
    match serde_json::from_str(&printed) {
        Ok(latency) => Some(latency),
        Err(err) => {
            eprintln!("sse-load: floor: the readers' latency is unreadable ({err}): {printed}");
            None
        }
    }
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

fn round_count(options: &Options) -> u64 {
    (options.workload.duration_secs * 1000).div_ceil(options.workload.interval_ms)
}

/// Writes `--bytes` to every socket once per interval, the sockets shared out over
/// `threads` threads that start each round together; returns what each thread spent.
fn write_rounds(
    sockets: Vec<TcpStream>,
    threads: usize,
    options: &Options,
) -> Result<Vec<Rounds>, Error> {
    let share = sockets.len().div_ceil(threads).max(1);
    let started = Instant::now();
    std::thread::scope(|scope| {
        let writers: Vec<_> = (sockets.chunks(share))
            .map(|share| scope.spawn(move || write_share(share, started, options)))
            .collect();
        let joined = writers.into_iter().map(|writer| writer.join());
        joined.map(|done| done.map_err(|_| Error::Io("floor: a writer panicked".into()))?).collect()
    })
}

/// One thread's rounds over its `sockets`, planned from `started`, measuring its CPU time.
fn write_share(
    sockets: &[TcpStream],
    started: Instant,
    options: &Options,
) -> Result<Rounds, Error> {
    let mut frame = frame(options.bytes as usize);
    let interval = Duration::from_millis(options.workload.interval_ms);
    let cpu_before = procfs::this_thread_cpu()?;
    let mut max_delay = Duration::ZERO;
    for round in 0..round_count(options) {
        let planned = started + interval * round as u32;
        std::thread::sleep(planned.saturating_duration_since(Instant::now()));
        max_delay = max_delay.max(planned.elapsed());
        stamp(&mut frame, SystemTime::now());
        for mut socket in sockets {
            socket.write_all(&frame).map_err(io("floor: writing"))?;
        }
    }
    let cpu = procfs::this_thread_cpu()?.saturating_sub(cpu_before);
    Ok(Rounds { cpu, max_delay })
}

/// `bytes` bytes shaped like an SSE event: a `data:` line and the blank line.
fn frame(bytes: usize) -> Vec<u8> {
    let mut frame = b"data: ".to_vec();
    frame.resize(bytes.saturating_sub(2).max(frame.len()), b'x');
    frame.extend_from_slice(b"\n\n");
    frame.truncate(bytes);
    frame
}

/// Writes `now` into `frame`, where [`Stamps`] reads it.
fn stamp(frame: &mut [u8], now: SystemTime) {
    let micros = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
    let digits = format!("{micros:0>STAMP_DIGITS$}");
    frame[STAMP_AT..STAMP_AT + STAMP_DIGITS].copy_from_slice(&digits.as_bytes()[..STAMP_DIGITS]);
}

/// Reads the send times of fixed-size writes out of a byte stream cut anywhere.
struct Stamps {
    bytes: usize,
    /// How far into the current write the stream is.
    at: usize,
    digits: [u8; STAMP_DIGITS],
}

impl Stamps {
    fn new(bytes: usize) -> Self {
        Self { bytes, at: 0, digits: [b'0'; STAMP_DIGITS] }
    }

    /// Takes `read`, calling `arrived` with the send time of each write it completes.
    fn feed(&mut self, mut read: &[u8], mut arrived: impl FnMut(Option<SystemTime>)) {
        while !read.is_empty() {
            let take = (self.bytes - self.at).min(read.len());
            let (start, end) = (self.at, self.at + take);
            let (from, to) = (start.max(STAMP_AT), end.min(STAMP_AT + STAMP_DIGITS));
            if from < to {
                self.digits[from - STAMP_AT..to - STAMP_AT]
                    .copy_from_slice(&read[from - start..to - start]);
            }
            read = &read[take..];
            self.at = end;
            if self.at == self.bytes {
                self.at = 0;
                arrived(self.sent());
            }
        }
    }

    fn sent(&self) -> Option<SystemTime> {
        let micros: u64 = std::str::from_utf8(&self.digits).ok()?.parse().ok()?;
        Some(UNIX_EPOCH + Duration::from_micros(micros))
    }
}

/// `sse-load drain`: connects to the floor's listener, reads every socket until it closes,
/// and prints the latency of every write it read as JSON.
pub fn drain(options: &DrainOptions) -> Result<(), Error> {
    if !options.addr.ip().is_loopback() {
        return Err(Error::Flag { flag: "--addr", why: "must be on loopback".into() });
    }
    crate::open_files_for(options.connections, "--connections")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("starting the runtime"))?;
    let latency_us = tally::latency_histogram();
    let latency_us = Arc::new(Mutex::new(latency_us));
    runtime.block_on(async {
        let mut readers = tokio::task::JoinSet::new();
        for index in 0..options.connections {
            let source = source_addr(index as usize, READER_SOURCE_ADDRS);
            let socket = tokio::net::TcpSocket::new_v4().map_err(io("drain: socket"))?;
            socket.bind(SocketAddr::new(source.into(), 0)).map_err(io("drain: bind"))?;
            let stream = socket.connect(options.addr).await.map_err(io("drain: connect"))?;
            readers.spawn(read_to_end(stream, options.bytes as usize, latency_us.clone()));
        }
        while readers.join_next().await.is_some() {}
        Ok::<_, Error>(())
    })?;
    let latency = Latency::of(&latency_us.lock().expect("no reader panicked"));
    let json = serde_json::to_string(&latency).map_err(|err| Error::Io(err.to_string()))?;
    println!("{json}");
    Ok(())
}

/// Reads until the peer closes, recording how long after its send time each write arrived.
async fn read_to_end(
    mut stream: tokio::net::TcpStream,
    bytes: usize,
    latency_us: Arc<Mutex<Histogram<u64>>>,
) {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 4096];
    let mut stamps = Stamps::new(bytes);
    while let Ok(read @ 1..) = stream.read(&mut buffer).await {
        let now = SystemTime::now();
        let mut latency_us = latency_us.lock().expect("no reader panicked");
        stamps.feed(&buffer[..read], |sent| {
            let latency = sent.and_then(|sent| now.duration_since(sent).ok()).unwrap_or_default();
            latency_us.saturating_record(latency.as_micros() as u64);
        });
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
        for bytes in [MIN_BYTES as usize, 100, 513] {
            let frame = frame(bytes);
            assert_eq!(frame.len(), bytes);
            assert!(frame.starts_with(b"data: ") && frame.ends_with(b"\n\n"));
        }
    }

    #[test]
    fn send_times_are_read_back_however_the_stream_is_cut() {
        let sent: Vec<SystemTime> = (1..=3)
            .map(|n| UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456 * n))
            .collect();
        let mut stream = Vec::new();
        for time in &sent {
            let mut frame = frame(40);
            stamp(&mut frame, *time);
            stream.extend_from_slice(&frame);
        }
        for cut in [1, 7, 13, 40, 41, 200] {
            let mut stamps = Stamps::new(40);
            let mut arrived = Vec::new();
            for read in stream.chunks(cut) {
                stamps.feed(read, |time| arrived.push(time.unwrap()));
            }
            assert_eq!(arrived, sent, "reads of {cut} bytes");
        }
    }
}
