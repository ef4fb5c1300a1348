//! The WASM entry point: hydrates the page the server rendered, if this script is of the
//! same build as the page.
//!
//! On a phone, loading the WASM, hydrating the page and the first run of its effects (the
//! tabs' election, the badge's clock) were one task of the main thread, several times the 50 ms
//! that blocks a reader's input (Lighthouse's total blocking time, BENCHMARKS.md). They are
//! several now: hydration starts from a timer of its own, and each thing it spawns from
//! another ([`AfterHydration`]).

use any_spawner::{CustomExecutor, Executor, PinnedFuture, PinnedLocalFuture};
use leptos::prelude::set_timeout;
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// Called by the generated JS once the WASM has loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    set_timeout(hydrate_now, Duration::ZERO);
}

/// Hydrates the page if it is of this build, then starts what hydration spawned.
fn hydrate_now() {
    let selector = format!("meta[name='{}']", app::BUILD_META);
    let page_build = leptos::prelude::document()
        .query_selector(&selector)
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"));
    if page_build.as_deref() != Some(app::BUILD_ID) {
        // Hydrating another build's HTML panics halfway; the page as rendered still reads.
        leptos::logging::error!(
            "livenames: this script is {}, the page {}: not hydrating. The server and its \
             site/ folder must come from one build (make dist); reload once they do.",
            app::BUILD_ID,
            page_build.as_deref().unwrap_or("of no known build"),
        );
        return;
    }
    // Set before Leptos would set its own (it keeps one that is already set).
    let _ = Executor::init_custom_executor(AfterHydration);
    HYDRATING.set(true);
    leptos::mount::hydrate_body(app::App);
    HYDRATING.set(false);
    // Each from a timer of its own, in the order they were spawned.
    for fut in DEFERRED.take() {
        set_timeout(move || wasm_bindgen_futures::spawn_local(fut), Duration::ZERO);
    }
}

thread_local! {
    /// Whether the page is hydrating: what is spawned meanwhile waits in [`DEFERRED`].
    static HYDRATING: Cell<bool> = const { Cell::new(false) };
    static DEFERRED: RefCell<Vec<PinnedLocalFuture<()>>> = const { RefCell::new(Vec::new()) };
}

/// Leptos's executor in the browser: wasm-bindgen-futures' (a microtask per task), except that
/// what is spawned while the page hydrates (the first run of every effect) waits for a task
/// of its own, after hydration's.
struct AfterHydration;

impl CustomExecutor for AfterHydration {
    fn spawn(&self, fut: PinnedFuture<()>) {
        self.spawn_local(fut);
    }

    fn spawn_local(&self, fut: PinnedLocalFuture<()>) {
        if HYDRATING.get() {
            DEFERRED.with_borrow_mut(|deferred| deferred.push(fut));
        } else {
            wasm_bindgen_futures::spawn_local(fut);
        }
    }

    /// wasm-bindgen-futures runs its tasks by itself.
    fn poll_local(&self) {}
}
