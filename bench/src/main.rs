//! `sse-load`: SSE fan-out benchmarks over loopback. `sse-load --help` lists the commands;
//! each prints one JSON object on stdout and its progress on stderr.

use bench::{Error, baseline, behind_nginx, compare, floor, hubs, load, soak};
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::process::ExitCode;

/// SSE fan-out benchmarks: livenames against a plain axum server and the socket-write floor.
#[derive(Debug, Parser)]
#[command(name = "sse-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Open N subscribers to an SSE URL on loopback and measure fan-out, latency and the server's cost.
    Load(load::Options),
    /// Serve the plain axum SSE baseline (broadcast → BroadcastStream → Sse with KeepAlive).
    Baseline(baseline::Options),
    /// Measure the floor: the same bytes written to N loopback sockets with blocking write().
    Floor(floor::Options),
    /// Run load against livenames and the baseline (on fresh connections, and on reused ones
    /// too with --reuse-connection), and the floor, and print the figures side by side.
    Compare(compare::Options),
    /// Run load against livenames behind Debian's nginx with README.md's configuration, and
    /// print livenames' cost per subscriber with nginx's own beside it.
    Nginx(behind_nginx::Options),
    /// Hold N subscribers for --duration-secs (default 10 min) while replacing --churn-per-sec
    /// of them; check every stream's event order and the server's RSS before, during and
    /// after all have left. Starts livenames itself unless given --url.
    Soak(soak::Options),
    /// Serve the same subscribers on one hub, then spread over --hubs hubs of one sse-lean
    /// server (each hub publishing every --interval-ms), and print both runs' figures.
    Hubs(hubs::Options),
    /// Serve --hubs hubs through sse-lean at /hubs/{n} (started by `hubs`).
    #[command(hide = true)]
    HubsServer(hubs::ServerOptions),
    /// The floor's reading side (started by `floor`).
    #[command(hide = true)]
    Drain(floor::DrainOptions),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Commands::Load(options) => load::run(&options).and_then(|report| print(&report)),
        Commands::Baseline(options) => baseline::run(&options),
        Commands::Floor(options) => floor::run(&options).and_then(|report| print(&report)),
        Commands::Compare(options) => compare::run(&options).and_then(|report| print(&report)),
        Commands::Soak(options) => soak::run(&options).and_then(|report| print(&report)),
        Commands::Nginx(options) => behind_nginx::run(&options).and_then(|report| print(&report)),
        Commands::Hubs(options) => hubs::run(&options).and_then(|report| print(&report)),
        Commands::HubsServer(options) => hubs::serve(&options),
        Commands::Drain(options) => floor::drain(&options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sse-load: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `report` as one pretty JSON object on stdout.
fn print(report: &impl Serialize) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(report).map_err(|err| Error::Io(err.to_string()))?;
    println!("{text}");
    Ok(())
}
