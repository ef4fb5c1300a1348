//! `sse-load load` through Debian's nginx with README.md's configuration, in front of a
//! livenames server started in this process: every subscriber gets every event through the
//! proxy, nginx's cost is read beside the server's, and nginx is gone once stopped. Needs
//! nginx at /usr/sbin/nginx (`make test-tools` installs it). Nothing is timed.

use bench::child::command;
use bench::servers::nginx::Nginx;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;

const SSE_LOAD: &str = env!("CARGO_BIN_EXE_sse-load");
const NGINX: &str = "/usr/sbin/nginx";
const SUBSCRIBERS: u64 = 10;

/// Runs `load` through nginx at `url`, reading nginx's usage (`proxy_pid`), with each
/// subscriber warming its connection up first; returns its report.
fn load_through(url: &str, proxy_pid: u32) -> Value {
    let output = command(SSE_LOAD)
        .args(["load", "--url", url, "--subscribers", &SUBSCRIBERS.to_string()])
        .args(["--duration-secs", "3", "--settle-secs", "1", "--drain-secs", "1"])
        .args(["--proxy-pid", &proxy_pid.to_string(), "--reuse-connection"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    serde_json::from_slice(&output.stdout).expect("one JSON object on stdout")
}

/// nginx's access log once it holds a line for every stream (nginx writes one when the
/// stream ends, once it notices the subscriber gone), or after 10 s.
fn logged_streams(path: &Path) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        if text.matches("GET /sse").count() as u64 >= SUBSCRIBERS {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_every_event_through_nginx_with_the_readme_configuration() {
    use clap::Parser;
    let flags = ["livenames", "--addr", "127.0.0.1:0", "--interval-ms", "100"];
    let config = server::config::Config::try_parse_from(flags).unwrap();
    let listener = tokio::net::TcpListener::bind(config.addr).await.unwrap();
    let SocketAddr::V4(upstream) = listener.local_addr().unwrap() else { unreachable!() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let prefix = std::env::temp_dir().join(format!("sse-load-nginx-test-{}", std::process::id()));
    let nginx = Nginx::start(Path::new(NGINX), &prefix, upstream, SUBSCRIBERS).unwrap();
    let (url, pid) = (format!("{}/sse", nginx.url), nginx.pid());
    let report = tokio::task::spawn_blocking(move || load_through(&url, pid)).await.unwrap();
    let access_log = logged_streams(&prefix.join("access.log"));
    drop(nginx);
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    std::fs::remove_dir_all(&prefix).unwrap();

    assert_eq!((report["connected"].as_u64(), report["failed"].as_u64()), (Some(10), Some(0)));
    let fan_out = &report["fan_out"];
    let events = fan_out["events"].as_u64().unwrap();
    assert!(events > 0, "{report}");
    assert_eq!(fan_out["events_received_by_all"].as_u64(), Some(events), "{report}");
    assert_eq!(fan_out["deliveries"].as_u64(), Some(events * SUBSCRIBERS), "{report}");
    let proxy = &report["proxy"];
    assert_eq!(proxy["pid"].as_u64(), Some(u64::from(pid)), "{report}");
    assert!(proxy["rss_connected_bytes"].as_u64().unwrap() > 0, "{report}");
    // Two connections per open stream: the subscriber's and the upstream one.
    let files = |at: usize| proxy["open_files"][at].as_u64().unwrap();
    let opened = files(1) - files(0);
    assert!(opened >= 2 * SUBSCRIBERS, "{report}");
    // Each subscriber went through nginx: its warm-up, then its stream.
    let requests = |line: &str| access_log.lines().filter(|l| l.contains(line)).count() as u64;
    assert_eq!(requests("\"GET /healthz HTTP/1.1\" 200"), SUBSCRIBERS, "{access_log}");
    assert_eq!(requests("\"GET /sse HTTP/1.1\" 200"), SUBSCRIBERS, "{access_log}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "nginx's master stopped");
}
