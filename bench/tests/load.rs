//! `sse-load load` against the baseline server, both as child processes of the built binary:
//! every subscriber must receive every event published in the window. Nothing is timed.

use bench::child::{Running, command};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

const SSE_LOAD: &str = env!("CARGO_BIN_EXE_sse-load");

/// The baseline on a free loopback port, publishing every `interval_ms`, and its URL.
fn start_baseline(interval_ms: u64) -> (Running, String) {
    start_server(&["baseline", "--interval-ms", &interval_ms.to_string()])
}

/// `sse-load <args> --addr 127.0.0.1:0`, a server, and its URL once it listens.
fn start_server(args: &[&str]) -> (Running, String) {
    let mut server = command(SSE_LOAD);
    server.args(args).args(["--addr", "127.0.0.1:0"]);
    server.stdout(Stdio::piped());
    let mut running = Running::spawn(args[0], &mut server).unwrap();
    let stdout = running.take_stdout().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").expect("the server says where").to_owned();
    (running, url)
}

/// Runs `sse-load` with `args` and returns its exit success, JSON stdout and stderr.
fn sse_load(args: &[&str]) -> (bool, Option<Value>, String) {
    let output = command(SSE_LOAD).args(args).output().unwrap();
    let json = serde_json::from_slice(&output.stdout).ok();
    (output.status.success(), json, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Runs `load` with 10 subscribers against `url` for 3 s, with `extra` flags, and returns
/// its report.
fn load_ten_subscribers(url: &str, server_pid: Option<u32>, extra: &[&str]) -> Value {
    let pid = server_pid.map(|pid| pid.to_string());
    let mut args = vec![
        "load",
        "--url",
        url,
        "--subscribers",
        "10",
        "--duration-secs",
        "3",
        "--settle-secs",
        "1",
        "--drain-secs",
        "1",
        "--source-addrs",
        "3",
    ];
    if let Some(pid) = &pid {
        args.extend(["--server-pid", pid]);
    }
    args.extend(extra);
    let (ok, report, stderr) = sse_load(&args);
    assert!(ok, "{stderr}");
    report.expect("one JSON object on stdout")
}

/// Every one of the 10 subscribers connected and received every event of the window.
fn assert_complete_fan_out(report: &Value) {
    assert_eq!((report["connected"].as_u64(), report["failed"].as_u64()), (Some(10), Some(0)));
    let fan_out = &report["fan_out"];
    let events = fan_out["events"].as_u64().unwrap();
    assert!(events > 0, "some events were published in 3 s: {report}");
    assert_eq!(fan_out["events_received_by_all"].as_u64(), Some(events), "{report}");
    assert_eq!(fan_out["min_receivers"].as_u64(), Some(10), "{report}");
    assert_eq!(fan_out["events_missing_between_first_and_last"].as_u64(), Some(0), "{report}");
    assert_eq!(fan_out["deliveries"].as_u64(), Some(events * 10), "{report}");
    assert_eq!(report["latency_ms"]["count"].as_u64(), Some(events * 10), "{report}");
    assert_eq!(report["unreadable_events"].as_u64(), Some(0), "{report}");
}

#[test]
fn every_subscriber_gets_every_event_of_the_baseline_on_fresh_and_reused_connections() {
    let (server, url) = start_baseline(100);
    for extra in [&[][..], &["--reuse-connection"]] {
        let report = load_ten_subscribers(&format!("{url}/sse"), Some(server.pid()), extra);
        assert_complete_fan_out(&report);
        assert!(report["server"]["rss_connected_bytes"].as_u64().unwrap() > 0, "{report}");
        assert!(report["server"]["rss_after_leaving_bytes"].as_u64().unwrap() > 0, "{report}");
    }
}

/// Runs `load` with 10 subscribers and `extra` flags against a livenames server started in
/// this process, and returns its report.
async fn load_livenames(extra: &'static [&'static str]) -> Value {
    use clap::Parser;
    let flags = ["livenames", "--addr", "127.0.0.1:0", "--interval-ms", "100"];
    let config = server::config::Config::try_parse_from(flags).unwrap();
    let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
    let url = format!("http://{}/sse", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let report =
        tokio::task::spawn_blocking(move || load_ten_subscribers(&url, None, extra)).await.unwrap();
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_every_event_of_livenames() {
    let report = load_livenames(&[]).await;
    assert_complete_fan_out(&report);
    assert!(report["warm_up_path"].is_null(), "{report}");
    // Events published before the window (while settling, and the latest event a new stream
    // starts with) are read but not counted.
    assert!(
        report["data_events_received"].as_u64().unwrap()
            > report["fan_out"]["deliveries"].as_u64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_every_event_of_livenames_on_reused_connections() {
    let report = load_livenames(&["--reuse-connection"]).await;
    assert_complete_fan_out(&report);
    assert_eq!(report["warm_up_path"], "/healthz", "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_up_path_the_server_does_not_have_fails_every_subscriber() {
    let report = load_livenames(&["--reuse-connection", "--warm-up-path", "/no-such-page"]).await;
    assert_eq!((report["connected"].as_u64(), report["failed"].as_u64()), (Some(0), Some(10)));
    let reasons = report["reasons"].as_object().unwrap();
    assert!(reasons.keys().all(|reason| reason.contains("warm-up GET /no-such-page")), "{report}");
}

#[test]
fn subscribers_spread_over_hubs_each_get_every_event_of_their_hub() {
    let (server, url) = start_server(&["hubs-server", "--hubs", "5", "--interval-ms", "200"]);
    let report = load_ten_subscribers(&format!("{url}/hubs/{{hub}}"), None, &["--hubs", "5"]);
    assert_eq!((report["connected"].as_u64(), report["failed"].as_u64()), (Some(10), Some(0)));
    let fan_out = &report["fan_out"];
    let events = fan_out["events"].as_u64().unwrap();
    assert!(events >= 5 * 10, "five hubs publish five times a second for 3 s: {report}");
    assert_eq!(fan_out["events_received_by_all"].as_u64(), Some(events), "{report}");
    let receivers = (fan_out["min_receivers"].as_u64(), fan_out["max_receivers"].as_u64());
    assert_eq!(receivers, (Some(2), Some(2)), "two subscribers a hub: {report}");
    assert_eq!(fan_out["events_missing_between_first_and_last"].as_u64(), Some(0), "{report}");
    assert_eq!(fan_out["deliveries"].as_u64(), Some(events * 2), "{report}");
    let (ok, _, stderr) = sse_load(&[
        "load",
        "--url",
        &format!("{url}/hubs/{{hub}}"),
        "--subscribers",
        "10",
        "--hubs",
        "3",
        "--duration-secs",
        "1",
    ]);
    assert!(!ok && stderr.contains("--hubs"), "3 hubs do not divide 10 subscribers: {stderr}");
    drop(server);
}

#[test]
fn a_target_off_loopback_is_refused_naming_the_flag() {
    let (ok, report, stderr) = sse_load(&[
        "load",
        "--url",
        "http://192.0.2.1/sse",
        "--subscribers",
        "1",
        "--duration-secs",
        "1",
    ]);
    assert!(!ok && report.is_none());
    assert!(stderr.contains("--url") && stderr.contains("loopback"), "{stderr}");
}

#[test]
fn a_server_that_is_not_there_counts_as_failed_connections() {
    // Port 1 on loopback: nothing listens there, so every connection is refused.
    let (ok, report, stderr) = sse_load(&[
        "load",
        "--url",
        "http://127.0.0.1:1/sse",
        "--subscribers",
        "3",
        "--duration-secs",
        "1",
        "--settle-secs",
        "0",
        "--drain-secs",
        "0",
    ]);
    assert!(ok, "{stderr}");
    let report = report.unwrap();
    assert_eq!((report["connected"].as_u64(), report["failed"].as_u64()), (Some(0), Some(3)));
    assert_eq!(report["fan_out"]["events"].as_u64(), Some(0));
}

#[test]
fn soak_refuses_a_target_off_loopback_before_starting_anything() {
    let (ok, report, stderr) =
        sse_load(&["soak", "--url", "http://192.0.2.1/sse", "--duration-secs", "1"]);
    assert!(!ok && report.is_none());
    assert!(stderr.contains("--url") && stderr.contains("loopback"), "{stderr}");
}
