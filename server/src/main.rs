//! Wires the server together: configuration, logging, the listener, shutdown signals.

use clap::Parser;
use server::config::Config;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc: with glibc the server kept the memory of every
/// subscriber that had left (17–24× its idle RSS, and +43 % over a 10-minute churn at a
/// constant 5,000), while jemalloc gives unused pages back to the system after a delay, so
/// an emptied server shrinks to ~1.9× (BENCHMARKS.md, "Soak").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start: purge pages unused for 1 s (dirty) straight back
/// to the system (no MADV_FREE "muzzy" stage, whose pages still count as resident), and
/// do it from background threads rather than only when the server next allocates.
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    init_tracing();
    server::connections::raise_open_files_limit(config.max_connections);
    let listener = match server::listen::bind(config.addr, config.reuse_port).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!("cannot listen on {} (--addr / LEPTOS_SITE_ADDR): {err}", config.addr);
            return ExitCode::FAILURE;
        }
    };
    match server::serve(listener, config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("server failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stdout, filtered by `RUST_LOG` (default `info`), coloured only on a terminal.
fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {err}");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!("cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
