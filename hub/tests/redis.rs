//! `RedisHub` against a real `redis-server`: an event's name, given by the process that
//! publishes, goes through Redis, so every process sends the same bytes for the same id.
#![cfg(feature = "redis")]

use sse_hub::{EventName, RedisHub, RedisOptions, StreamOptions, Subscription};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Bounds a wait for Redis or for events; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(20);

/// A `redis-server` of this test's own, on a Unix socket in a new folder (no port to pick),
/// without persistence; killed by its process id when dropped, also when the test panics.
struct Redis {
    child: Child,
    dir: PathBuf,
}

impl Redis {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("sse-hub-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the Redis folder");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocket"])
            .arg(dir.join("redis.sock"))
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (`make test-tools` installs Debian's redis-server)");
        let redis = Self { child, dir };
        let started = Instant::now();
        while !redis.dir.join("redis.sock").exists() {
            assert!(started.elapsed() < PATIENCE, "redis-server did not open its socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.dir.join("redis.sock").display())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The bytes of a subscription's first `count` events, `retry:` included.
async fn first_events(subscription: Subscription, count: usize) -> String {
    let options = StreamOptions::default().retry(Duration::from_millis(1500));
    let mut delivery = subscription.into_delivery(options);
    let mut text = Vec::new();
    while text.windows(2).filter(|pair| pair == b"\n\n").count() < count {
        let frames = tokio::time::timeout(PATIENCE, delivery.next()).await.expect("events");
        text.extend(frames.expect("an open stream").into_iter().flatten());
    }
    String::from_utf8(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_given_by_the_publishing_process_is_sent_by_every_process() {
    let redis = Redis::start();
    let stop = CancellationToken::new();
    let options = RedisOptions {
        url: redis.url(),
        key: "names".into(),
        lease: Duration::from_secs(5),
        history: NonZeroUsize::new(4).unwrap(),
        backlog: NonZeroUsize::new(64).unwrap(),
        max_events: None,
    };
    let leader = RedisHub::<String>::connect(options.clone(), stop.clone()).await.unwrap();
    let other = RedisHub::<String>::connect(options, stop.clone()).await.unwrap();
    let (leaders_live, others_live) = (leader.subscribe(None).await, other.subscribe(None).await);
    let price = EventName::new("price").unwrap();
    let make = move |index: u64| match index % 2 {
        1 => (price.clone(), format!("{index}.5")),
        _ => (EventName::MESSAGE, format!("tick {index}")),
    };
    tokio::spawn(leader.clone().lead_named(Duration::from_millis(5), make, stop.clone()));

    let epoch = other.hub().epoch();
    let expected: String = (1..=10)
        .map(|index| match index % 2 {
            1 => format!("id: {epoch}-{index}\nevent: price\ndata: {index}.5\n\n"),
            _ => format!("id: {epoch}-{index}\ndata: tick {index}\n\n"),
        })
        .collect();
    let expected = format!("retry: 1500\n{expected}");
    assert_eq!(first_events(leaders_live.unwrap(), 10).await, expected, "the publisher's own");
    assert_eq!(first_events(others_live.unwrap(), 10).await, expected, "another process");
    // Each process keeps 4 events: a resume from the start reads the rest from Redis.
    let resumed = other.subscribe(Some(&format!("{epoch}-0"))).await.unwrap();
    assert_eq!(first_events(resumed, 10).await, expected, "replayed from Redis");
    stop.cancel();
}
