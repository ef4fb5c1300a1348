//! The page's pieces; each reads the signals of [`crate::live::LiveNames`].

use crate::event::NamesEvent;
use crate::live::{ConnectionState, LogEntry};
use leptos::prelude::*;
use std::collections::VecDeque;

/// The connection state in words, with `data-state` for tests and styling.
#[component]
pub fn ConnectionBadge(state: ReadSignal<ConnectionState>) -> impl IntoView {
    view! {
        <p class="state" data-testid="state" data-state=move || state.get().as_str()>
            "Connection: " <strong>{move || state.get().as_str()}</strong>
        </p>
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

/// The 10 names of the latest event.
#[component]
pub fn NamesTable(latest: ReadSignal<Option<NamesEvent>>) -> impl IntoView {
    let rows = move || latest.get().map(|event| event.list).unwrap_or_default();
    view! {
        <table class="names" data-testid="names">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Value"</th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    rows()
                        .into_iter()
                        .map(|entry| {
                            view! {
                                <tr data-value=entry.value>
                                    <td>{entry.name}</td>
                                    <td>{entry.value}</td>
                                </tr>
                            }
                        })
                        .collect_view()
                }}
            </tbody>
        </table>
    }
}
