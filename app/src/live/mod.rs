//! The page's subscription as signals: the glue between the browser and the plain model in
//! [`crate::model`].
//!
//! Every tab's state is one [`Live`] in a signal. Whatever happens (the `EventSource` reports,
//! another tab posts, a probe answers, a timer fires, the reader clicks) is handed to it, and
//! the [`Command`]s it returns are carried out here; the view reads memos of it.
//!
//! - [`source`]: this tab's `EventSource`; [`probe`]: one `fetch` that says why it failed.
//! - [`link`]: the tabs of one browser and their leader (Web Locks, `BroadcastChannel`).
//! - [`watch`]: the dead-link check, online/offline, timers.

pub mod link;
pub mod probe;
pub mod source;
pub mod watch;

use crate::event::{NamesEvent, PageSeed};
use crate::model::connection::{SourceState, Status};
use crate::model::feed::LogEntry;
use crate::model::tabs::Role;
use crate::model::{Command, Live};
use leptos::prelude::*;
use link::TabLink;
use source::Source;
use sse_hub::EventId;
use std::collections::VecDeque;

/// Where the page subscribes.
pub const STREAM_URL: &str = "/sse";

/// What the page knows of the stream, and what it can do with it.
#[derive(Clone, Copy)]
pub struct LiveNames {
    /// The latest data event, `None` until the first arrives.
    pub latest: Signal<Option<NamesEvent>>,
    pub status: Signal<Status>,
    pub role: Signal<Role>,
    /// Why the most recent data event was skipped, cleared by the next good one.
    pub skipped: Signal<Option<String>>,
    /// The last events and gaps, oldest first.
    pub log: Signal<VecDeque<LogEntry>>,
    /// Data events this tab received since it loaded.
    pub received: Signal<u64>,
    /// When the latest data event arrived (`Date.now()`), `None` until one has.
    pub received_at: Signal<Option<f64>>,
    /// Stops showing events until [`LiveNames::resume`]; a tab holding the connection
    /// closes it (or hands it to another tab).
    pub pause: Callback<()>,
    /// Shows every event since the pause, then live ones again: none in between is lost.
    pub resume: Callback<()>,
}

/// Subscribes when the page hydrates, from the event the server rendered the page with (if
/// any), so nothing published between render and subscribe is lost. Renders as
/// `Connecting` on the server.
pub fn use_live_names(seed: PageSeed) -> LiveNames {
    let PageSeed { rendered, interval_ms, heartbeat_ms, retry_max_ms, .. } = seed;
    let page = Page {
        model: RwSignal::new(Live::new(rendered, retry_max_ms as f64, random_seed())),
        glue: StoredValue::new_local(Glue::default()),
    };

    // The browser only: join the other tabs, or connect alone where they can't be joined.
    Effect::new(move |_| {
        match TabLink::join(move |message| page.dispatch(|live| live.tab_message(message))) {
            Some(joined) => {
                page.glue.update_value(|glue| glue.link = Some(joined));
                let tab = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
                page.dispatch(|live| live.joined(tab));
            }
            None => page.dispatch(|live| live.alone(now())),
        }
    });
    on_cleanup(move || {
        page.glue.update_value(|glue| {
            glue.source = None;
            glue.link.iter().for_each(TabLink::leave);
        })
    });

    watch::network(
        move || page.dispatch(Live::offline),
        move || {
            let source = page.glue.with_value(|glue| glue.source.as_ref().map(Source::state));
            page.dispatch(|live| live.online(source.unwrap_or(SourceState::Closed), now()))
        },
    );
    let silence_limit = watch::dead_link_after(interval_ms, heartbeat_ms);
    let limit_ms = silence_limit.as_millis() as f64;
    watch::every_quarter_of(silence_limit, move || {
        let now = now();
        if page.model.with_untracked(|live| live.is_silent(now, limit_ms)) {
            page.dispatch(|live| live.check_silence(now, limit_ms));
        }
    });

    let model = page.model;
    LiveNames {
        latest: Memo::new(move |_| model.with(|live| live.feed.latest.clone())).into(),
        status: Memo::new(move |_| model.with(|live| live.connection.status())).into(),
        role: Memo::new(move |_| model.with(|live| live.role)).into(),
        skipped: Memo::new(move |_| model.with(|live| live.feed.skipped.clone())).into(),
        log: Memo::new(move |_| model.with(|live| live.feed.log.clone())).into(),
        received: Memo::new(move |_| model.with(|live| live.feed.received)).into(),
        received_at: Memo::new(move |_| model.with(|live| live.feed.received_at)).into(),
        pause: Callback::new(move |()| page.dispatch(Live::pause)),
        resume: Callback::new(move |()| page.dispatch(|live| live.resume(now()))),
    }
}

/// The browser objects the model's commands act on.
#[derive(Default)]
struct Glue {
    /// This tab's `EventSource`, while it holds one; dropping it closes it.
    source: Option<Source>,
    link: Option<TabLink>,
}

/// The model and the glue, `Copy` so that every callback can hold them.
#[derive(Clone, Copy)]
struct Page {
    model: RwSignal<Live>,
    glue: StoredValue<Glue, LocalStorage>,
}

impl Page {
    /// Hands something that happened to the model, then carries out what it says.
    fn dispatch(self, change: impl FnOnce(&mut Live) -> Vec<Command>) {
        self.dispatch_for(|live| ((), change(live)));
    }

    /// [`Page::dispatch`] for a change that also answers something.
    fn dispatch_for<T: Default>(self, change: impl FnOnce(&mut Live) -> (T, Vec<Command>)) -> T {
        let (answer, commands) = self.model.try_update(change).unwrap_or_default();
        commands.into_iter().for_each(|command| self.run(command));
        answer
    }

    fn run(self, command: Command) {
        match command {
            Command::Post(message) => {
                self.glue.with_value(|glue| glue.link.iter().for_each(|link| link.post(&message)))
            }
            Command::Open(after) => {
                // The old source, if any, is closed as it is replaced.
                let on_event = move |event| self.dispatch(|live| live.source(event, now()));
                let source = Source::open(&stream_url(after), on_event);
                self.glue.update_value(|glue| glue.source = source);
            }
            Command::Close => self.glue.update_value(|glue| glue.source = None),
            Command::Probe { generation } => probe::probe(STREAM_URL, move |answer| {
                self.dispatch(|live| live.probed(generation, answer, now()))
            }),
            Command::ProbeAt { at_ms, generation } => {
                watch::at(at_ms, move || self.dispatch(|live| live.retry_due(generation, now())))
            }
            Command::RequestLead => self.glue.with_value(|glue| {
                glue.link.iter().for_each(|link| {
                    link.request_lead(move || self.dispatch_for(|live| live.lead_granted(now())))
                })
            }),
            Command::ReleaseLead => {
                self.glue.with_value(|glue| glue.link.iter().for_each(TabLink::release))
            }
        }
    }
}

/// A seed for this tab's backoff jitter (the server renders with a fixed one; only the
/// browser's is used).
fn random_seed() -> u64 {
    if cfg!(feature = "hydrate") { (js_sys::Math::random() * 2_f64.powi(53)) as u64 } else { 1 }
}

fn now() -> f64 {
    js_sys::Date::now()
}

/// The stream's URL, resuming after `last_id` when there is one.
fn stream_url(last_id: Option<EventId>) -> String {
    match last_id {
        Some(id) => format!("{STREAM_URL}?lastEventId={id}"),
        None => STREAM_URL.to_string(),
    }
}
