//! The page's pieces; each reads the signals of [`crate::live::LiveNames`] and shows the
//! strings of one language ([`crate::i18n::Texts`]).

use crate::changes::{Row, Rows};
use crate::event::NamesEvent;
use crate::i18n::{LANG_COOKIE, Lang, Texts, split_at_number};
use crate::live::LiveNames;
use crate::model::connection::ConnectionState;
use crate::model::feed::LogEntry;
use leptos::either::Either;
use leptos::prelude::*;
use std::collections::VecDeque;

/// `template` with its `{n}` replaced by `value`, in an element tests find by `testid`.
pub(crate) fn counted(
    template: &'static str,
    testid: &'static str,
    value: impl IntoView,
) -> impl IntoView {
    let (before, after) = split_at_number(template);
    view! { {before} <span data-testid=testid>{value}</span> {after} }
}

/// Pauses this tab, or resumes it from the last event it showed.
#[component]
pub fn PauseToggle(live: LiveNames, texts: &'static Texts) -> impl IntoView {
    let paused = move || live.status.get().state == ConnectionState::Paused;
    let toggle = move |_| if paused() { live.resume.run(()) } else { live.pause.run(()) };
    view! {
        <button type="button" data-testid="pause-toggle" aria-pressed=move || paused().to_string() on:click=toggle>
            {move || if paused() { texts.resume } else { texts.pause }}
        </button>
    }
}

/// Switches the page to the other language, and remembers the choice in a cookie so the
/// server renders the next page in it too.
#[component]
pub fn LanguageToggle(lang: RwSignal<Lang>, texts: &'static Texts) -> impl IntoView {
    let other = lang.get_untracked().other();
    let switch = move |_| {
        let cookie =
            format!("{LANG_COOKIE}={}; path=/; max-age=31536000; samesite=lax", other.code());
        let _ = js_sys::Reflect::set(&document(), &"cookie".into(), &cookie.into());
        lang.set(other);
    };
    view! {
        <button type="button" class="language" data-testid="language-toggle" lang=other.code() on:click=switch>
            {texts.switch_language}
        </button>
    }
}

/// Shown by the server and removed once the page hydrates: without JavaScript the table is
/// the one the page was rendered with, so offer a refresh.
#[component]
pub fn NoScriptNotice(texts: &'static Texts) -> impl IntoView {
    let (hydrated, set_hydrated) = signal(false);
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| set_hydrated.set(true));
    move || {
        (!hydrated.get()).then(|| {
            view! {
                <p class="notice" data-testid="no-js">
                    {texts.no_js} <a href="/">{texts.refresh}</a> {texts.no_js_after}
                </p>
            }
        })
    }
}

/// Index and generation time of the latest event.
#[component]
pub fn LatestInfo(latest: Signal<Option<NamesEvent>>, texts: &'static Texts) -> impl IntoView {
    view! {
        <p class="latest" data-testid="latest">
            {move || match latest.get() {
                Some(event) => {
                    Either::Left(view! {
                        {texts.event_number} <span data-testid="index">{event.index}</span> {texts.at}
                        <time datetime=event.info.clone()>{event.info.clone()}</time>
                    })
                }
                None => Either::Right(texts.waiting),
            }}
        </p>
    }
}

/// Shown while the latest data event could not be read; the stream goes on.
#[component]
pub fn SkippedNotice(skipped: Signal<Option<String>>, texts: &'static Texts) -> impl IntoView {
    move || {
        skipped.get().map(|reason| {
            view! { <p class="error" role="alert" data-testid="skipped">{texts.skipped} {reason}</p> }
        })
    }
}

/// The last events and gaps this tab received, oldest first, collapsed until opened:
/// `data-id` on each event for tests, and each event's delivery delay.
#[component]
pub fn EventLog(log: Signal<VecDeque<LogEntry>>, texts: &'static Texts) -> impl IntoView {
    let rows = move || log.get().into_iter().map(|entry| log_row(entry, texts)).collect_view();
    view! {
        <details class="log">
            <summary>{texts.log}</summary>
            <table data-testid="event-log">
                <thead>
                    <tr>
                        <th scope="col">{texts.log_id}</th>
                        <th scope="col">{texts.log_time}</th>
                        <th scope="col">{texts.log_delay}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </details>
    }
}

fn log_row(entry: LogEntry, texts: &'static Texts) -> impl IntoView {
    match entry {
        LogEntry::Event { id, info, delay_ms } => {
            let id = id.to_string();
            let shown_id = id.clone();
            // The time of day is enough here; the full timestamp is in `datetime`.
            let time_of_day = info.get(11..23).unwrap_or(&info).to_string();
            let delay = delay_ms.map(|ms| counted(texts.delay_ms, "delay", ms));
            Either::Left(view! {
                <tr data-kind="event" data-id=id>
                    <td><code>{shown_id}</code></td>
                    <td><time datetime=info>{time_of_day}</time></td>
                    <td>{delay}</td>
                </tr>
            })
        }
        LogEntry::Gap { first_available } => {
            let (before, after) = split_at_number(texts.gap);
            let first_available = first_available.to_string();
            let shown = first_available.clone();
            Either::Right(view! {
                <tr class="gap" data-kind="gap" data-first=first_available>
                    <td colspan="3">{before} <code>{shown}</code> {after}</td>
                </tr>
            })
        }
    }
}

/// The 10 names of the latest event; a row that changed with it is highlighted (see
/// [`crate::changes`]), as is its bar in the chart.
#[component]
pub fn NamesTable(rows: Memo<Rows>, texts: &'static Texts) -> impl IntoView {
    let body = move || rows.with(|rows| rows.rows.iter().map(names_row).collect_view());
    view! {
        <table class="names" data-testid="names">
            <thead>
                <tr>
                    <th scope="col">{texts.name}</th>
                    <th scope="col">{texts.value}</th>
                </tr>
            </thead>
            <tbody>{body}</tbody>
        </table>
    }
}

fn names_row(row: &Row) -> impl IntoView + use<> {
    view! {
        <tr data-value=row.entry.value class=row.class() data-changed=row.changed()>
            <td>{row.entry.name.clone()}</td>
            <td>{row.entry.value}</td>
        </tr>
    }
}
