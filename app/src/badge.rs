//! The connection badge: the state in words, what went wrong and when the next attempt
//! comes, the counters, and which tab holds the connection.

use crate::components::counted;
use crate::i18n::{Texts, split_at_number};
use crate::live::LiveNames;
use crate::model::connection::ConnectionState;
use crate::model::probe::Failure;
use crate::model::tabs::Role;
use leptos::prelude::*;
use std::time::Duration;

/// The connection state in words (with `data-state` and `data-role` for tests and styling),
/// while reconnecting what went wrong and the countdown to the next attempt, events
/// received, reconnects so far, how long ago the latest event arrived, and whether the
/// connection is shared between tabs.
#[component]
pub fn ConnectionBadge(live: LiveNames, texts: &'static Texts) -> impl IntoView {
    let status = live.status;
    let state = Memo::new(move |_| status.get().state);
    let failure = Memo::new(move |_| status.get().failure);
    let now = use_clock();
    // The DOM changes only when a shown number does: a text node is set only when its value
    // differs from the last one, so the clock's ticks in between cost no layout.
    let retry_in = move || {
        let retry = status.get().retry.filter(|_| state.get() == ConnectionState::Reconnecting)?;
        let seconds = retry.seconds_left(now.get()?)?;
        // The page's own retries come at that time; the browser's, within it.
        let template = if failure.get().is_some() { texts.retrying_in } else { texts.next_attempt };
        Some(counted(template, "retry-in", seconds))
    };
    let failure_words = move || failure.get().map(|failure| failure_view(failure, texts));
    let silent_reopens = move || {
        let reopened = status.get().silent_reopens;
        (reopened > 0).then(|| counted(texts.silent_reopens, "silent-reopens", reopened))
    };
    let ago = move || {
        // Whole seconds as an integer: formatting an f64 would add float printing to the WASM.
        Some(((now.get()? - live.received_at.get()?).max(0.0) / 1000.0) as u64)
    };
    // Rendered from the start, and hidden by CSS while it holds no number, so that it takes
    // its place before the page hydrates and nothing moves when it appears.
    let updated_ago =
        view! { <span class="ago">{counted(texts.updated_ago, "updated-ago", ago)}</span> };
    let sharing = move || match live.role.get() {
        Role::Leader => Some(texts.leader),
        Role::Follower => Some(texts.follower),
        Role::Solo => None,
    };
    view! {
        <div class="badge" data-testid="state" data-state=move || state.get().as_str() data-role=move || live.role.get().as_str()>
            <p>
                // Announced to screen readers when it changes; the counts and the countdown
                // are not, as they change every second or with every event.
                <span role="status" aria-live="polite">
                    {texts.connection} <strong>{move || state_label(state.get(), texts)}</strong>
                    {failure_words}
                </span>
                {retry_in}
            </p>
            <p class="counts">
                {counted(texts.received, "received", live.received)}
                {counted(texts.reconnects, "reconnects", move || status.get().reconnects)}
                {silent_reopens}
                {updated_ago}
            </p>
            <p class="sharing">{sharing}</p>
        </div>
    }
}

/// The state in words.
fn state_label(state: ConnectionState, texts: &Texts) -> &'static str {
    match state {
        ConnectionState::Connecting => texts.connecting,
        ConnectionState::Open => texts.open,
        ConnectionState::Reconnecting => texts.reconnecting,
        ConnectionState::Closed => texts.closed,
        ConnectionState::ClosedByServer => texts.closed_by_server,
        ConnectionState::Offline => texts.offline,
        ConnectionState::Paused => texts.paused,
    }
}

/// What went wrong, in words, with `data-failure` for tests: `status-502`, `not-a-stream`,
/// `unreachable`.
fn failure_view(failure: Failure, texts: &'static Texts) -> impl IntoView {
    let (code, words) = match failure {
        Failure::Status(status) => {
            let (before, after) = split_at_number(texts.unavailable);
            (format!("status-{status}"), format!("{before}{status}{after}"))
        }
        Failure::NotAStream => ("not-a-stream".to_string(), texts.not_a_stream.to_string()),
        Failure::Unreachable => ("unreachable".to_string(), texts.unreachable.to_string()),
    };
    view! { <span data-testid="failure" data-failure=code>{words}</span> }
}

/// `Date.now()`, read once a second while the page is visible: a hidden tab shows no one its
/// badge, so its clock changes nothing then, and it reads the time again within a second of
/// showing. `None` on the server, which renders no times.
fn use_clock() -> ReadSignal<Option<f64>> {
    let (now, set_now) = signal(None::<f64>);
    // Effects run only in the browser.
    Effect::new(move |_| {
        let tick = move || {
            if !document().hidden() {
                set_now.set(Some(js_sys::Date::now()));
            }
        };
        tick();
        let handle = set_interval_with_handle(tick, Duration::from_secs(1)).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
    now
}
