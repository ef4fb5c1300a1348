//! The page's pieces; each reads the signals of [`crate::live::LiveNames`].

use crate::event::NamesEvent;
use crate::live::{ConnectionState, LiveNames, LogEntry};
use leptos::prelude::*;
use std::collections::VecDeque;
use std::time::Duration;

/// The connection state in words (with `data-state` for tests and styling), events received,
/// reconnects so far, and how long ago the latest event arrived.
#[component]
pub fn ConnectionBadge(live: LiveNames) -> impl IntoView {
    let state = live.state;
    view! {
        <div class="badge" data-testid="state" data-state=move || state.get().as_str()>
            // Announced to screen readers when it changes; the counts below are not, as they
            // change with every event.
            <p role="status" aria-live="polite">
                "Connection: " <strong>{move || state.get().label()}</strong>
            </p>
            <p class="counts">
                <span data-testid="received">{live.received}</span> " events received · "
                <span data-testid="reconnects">{live.reconnects}</span> " reconnects"
                {move || {
                    let reopened = live.silent_reopens.get();
                    (reopened > 0).then(|| {
                        view! {
                            " · reopened " <span data-testid="silent-reopens">{reopened}</span>
                            " silent links"
                        }
                    })
                }}
                <UpdatedAgo received_at=live.received_at/>
            </p>
        </div>
    }
}

/// " · updated N s ago", ticking every second, once an event has arrived.
#[component]
fn UpdatedAgo(received_at: ReadSignal<Option<f64>>) -> impl IntoView {
    let (now, set_now) = signal(None::<f64>);
    // Effects run only in the browser, so the server renders nothing here.
    Effect::new(move |_| {
        let tick = move || set_now.set(Some(js_sys::Date::now()));
        tick();
        let handle = set_interval_with_handle(tick, Duration::from_secs(1)).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
    move || {
        // Whole seconds as an integer: formatting an f64 would add float printing to the WASM.
        let seconds = ((now.get()? - received_at.get()?).max(0.0) / 1000.0) as u64;
        Some(view! { " · updated " <span data-testid="updated-ago">{seconds}</span> " s ago" })
    }
}

/// Pauses the stream, or resumes it from the last event received.
#[component]
pub fn PauseToggle(live: LiveNames) -> impl IntoView {
    let paused = move || live.state.get() == ConnectionState::Paused;
    let toggle = move |_| if paused() { live.resume.run(()) } else { live.pause.run(()) };
    view! {
        <button type="button" data-testid="pause-toggle" aria-pressed=move || paused().to_string() on:click=toggle>
            {move || if paused() { "Resume" } else { "Pause" }}
        </button>
    }
}

/// Shown by the server and removed once the page hydrates: without JavaScript the table is
/// the one the page was rendered with, so offer a refresh.
#[component]
pub fn NoScriptNotice() -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| set_hydrated.set(true));
    move || {
        (!hydrated.get()).then(|| {
            view! {
                <p class="notice" data-testid="no-js">
                    "Live updates need JavaScript; this is the table as of loading the page. "
                    <a href="/">"Refresh"</a>
                    " for the latest names."
                </p>
            }
        })
    }
}

/// Index and generation time of the latest event.
#[component]
pub fn LatestInfo(latest: ReadSignal<Option<NamesEvent>>) -> impl IntoView {
    view! {
        <p class="latest" data-testid="latest">
            {move || match latest.get() {
                Some(event) => {
                    view! {
                        "Event #" <span data-testid="index">{event.index}</span> " at "
                        <time datetime=event.info.clone()>{event.info.clone()}</time>
                    }
                        .into_any()
                }
                None => "Waiting for the first event…".into_any(),
            }}
        </p>
    }
}

/// Shown while the latest data event could not be read; the stream goes on.
#[component]
pub fn SkippedNotice(skipped: ReadSignal<Option<String>>) -> impl IntoView {
    move || {
        skipped.get().map(|reason| {
            view! {
                <p class="error" role="alert" data-testid="skipped">
                    "Skipped an event that could not be read: " {reason}
                </p>
            }
        })
    }
}

/// The events and gaps the page received, newest last; `data-id` on each event for tests.
#[component]
pub fn EventLog(log: ReadSignal<VecDeque<LogEntry>>) -> impl IntoView {
    let entries = move || log.get().into_iter().map(log_line).collect_view();
    view! {
        <details class="log">
            <summary>"Event log"</summary>
            <ol data-testid="event-log">{entries}</ol>
        </details>
    }
}

fn log_line(entry: LogEntry) -> impl IntoView {
    match entry {
        LogEntry::Event { id, info } => {
            let (shown_id, shown_time) = (id.clone(), info.clone());
            view! {
                <li data-kind="event" data-id=id>
                    <code>{shown_id}</code> " " <time datetime=info>{shown_time}</time>
                </li>
            }
            .into_any()
        }
        LogEntry::Gap { first_available } => {
            let shown = first_available.clone();
            view! {
                <li class="gap" data-kind="gap" data-first=first_available>
                    "Gap: events before " <code>{shown}</code>
                    " were no longer available; showing the latest."
                </li>
            }
            .into_any()
        }
    }
}

/// The 10 names of the latest event. A row whose name or value differs from the row at the
/// same position in the previous event is marked `changed` for this event. The first event
/// has no predecessor, so the server-rendered rows (and their hydration) are never marked.
#[component]
pub fn NamesTable(latest: ReadSignal<Option<NamesEvent>>) -> impl IntoView {
    // The rows shown before this render, replaced by this render's in the same place.
    let previous = StoredValue::new(Vec::<crate::event::NameEntry>::new());
    let rows = move || {
        let list = latest.get().map(|event| event.list).unwrap_or_default();
        let before = previous
            .try_update_value(|shown| std::mem::replace(shown, list.clone()))
            .unwrap_or_default();
        list.into_iter()
            .enumerate()
            .map(|(position, entry)| {
                let changed = before.get(position).is_some_and(|old| *old != entry);
                view! {
                    <tr data-value=entry.value class=changed.then_some("changed") data-changed=changed.then_some("true")>
                        <td>{entry.name}</td>
                        <td>{entry.value}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <table class="names" data-testid="names">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Value"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
