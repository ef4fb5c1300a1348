//! One doorbell rings for every hub of the process, so that a writer driving the streams of
//! many hubs learns of each one's news. Alone in its binary: the bell is process-wide, and
//! other tests' hubs would ring it too.

use sse_hub::{Doorbell, Hub};
use std::num::NonZeroUsize;
use std::time::Duration;

fn hub() -> Hub<u64> {
    let size = |n| NonZeroUsize::new(n).unwrap();
    Hub::new(size(8), size(8))
}

/// Whether `doorbell` rings within a second.
async fn rings(doorbell: &mut Doorbell) -> bool {
    tokio::time::timeout(Duration::from_secs(1), doorbell.rung()).await.is_ok()
}

#[tokio::test(start_paused = true)]
async fn any_hubs_news_rings_every_doorbell_once_for_what_came_together() {
    let (chat, ticker) = (hub(), hub());
    let (mut first, mut second) = (Doorbell::new(), Doorbell::new());
    assert!(!rings(&mut first).await, "nothing published yet");

    chat.publish(|index| index);
    ticker.publish(|index| index);
    assert!(rings(&mut first).await && rings(&mut second).await, "each doorbell rings");
    assert!(!rings(&mut first).await, "what came together rings once");

    ticker.close("over");
    assert!(rings(&mut first).await && rings(&mut second).await, "close rings too");
    assert!(!rings(&mut second).await);
}
