//! The livenames page, shared by the server (server-side rendering, feature `ssr`) and the
//! browser (hydration, feature `hydrate`).
//!
//! ```text
//! EventSource, other tabs, timers ──► live (glue) ──► model::Live ──► commands ──► live
//!                                                          └──► memos ──► components
//! ```
//! - [`event`]: the types that cross the wire (payload, page seed).
//! - [`model`]: the live page as plain Rust: the feed, the connection's state machine and
//!   the tab protocol, tested natively.
//! - [`live`]: the glue: the `EventSource`, probes, the tabs' link and timers, as signals.
//! - [`components`], [`badge`] and [`chart`]: the pieces of the page; [`changes`]: which
//!   rows changed, highlighted alike in the table and the chart.
//! - [`i18n`]: every string the page shows, in English and Chinese.

pub mod badge;
pub mod changes;
pub mod chart;
pub mod components;
pub mod event;
pub mod i18n;
pub mod live;
pub mod model;

use badge::ConnectionBadge;
use changes::Rows;
use components::{
    EventLog, LanguageToggle, LatestInfo, NamesTable, NoScriptNotice, PauseToggle, SkippedNotice,
};
use event::PageSeed;
use i18n::Lang;
use leptos::either::Either;
use leptos::prelude::*;
use live::use_live_names;

/// What build of the page this is, the same in the server and in the WASM of one build
/// (`build.rs`): the server checks its site's WASM for it at start-up, and the page for the
/// one in the HTML before hydrating, since a page of another build cannot hydrate it.
pub const BUILD_ID: &str = concat!("livenames-build:", env!("LIVENAMES_BUILD_ID"));

/// The name of the `<meta>` that carries [`BUILD_ID`] in every page.
pub const BUILD_META: &str = "livenames-build";

/// The HTML document around the app, rendered on the server: its language and title are the
/// page's, set here once (the browser only hydrates `<body>`; [`App`] keeps `lang` in step
/// with the language toggle).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let lang = use_context::<PageSeed>().unwrap_or_default().lang;
    let title = if is_live_page() { "livenames" } else { lang.texts().not_found_title };
    view! {
        <!DOCTYPE html>
        <html lang=lang.code()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="description" content=lang.description()/>
                <meta name=BUILD_META content=BUILD_ID/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <title>{title}</title>
                // `id="leptos"`: the stylesheet `cargo leptos watch` reloads.
                <link rel="stylesheet" id="leptos" href="/pkg/livenames.css"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The app: the live table at `/`, a real 404 page everywhere else. The page's seed and its
/// language are context for both.
///
/// One page needs no router (which would cost the WASM a third of its size): the path picks
/// the view, from the request on the server and from `location` in the browser, so both
/// render the same. Links are plain links; the server answers unknown paths with 404. For
/// the same reason the `<head>` is plain HTML in [`shell`] rather than `leptos_meta`'s.
#[component]
pub fn App() -> impl IntoView {
    // Computed on the server (which provides it as context) and sent along in the HTML, so
    // the hydrated page starts from exactly the event and language the server rendered.
    let seed = SharedValue::new(|| use_context::<PageSeed>().unwrap_or_default()).into_inner();
    let lang = RwSignal::new(seed.lang);
    provide_context(seed);
    provide_context(lang);
    // Effects run only in the browser: `<html lang>` follows the toggle.
    Effect::new(move |_| {
        let code = lang.get().code();
        // Only when it differs: setting it at all, even to the value the server rendered,
        // restyles the whole page, which on hydration was a long task of its own.
        if let Some(html) = document().document_element()
            && html.get_attribute("lang").as_deref() != Some(code)
        {
            let _ = html.set_attribute("lang", code);
        }
    });
    let page = if is_live_page() {
        Either::Left(view! { <LivePage/> })
    } else {
        Either::Right(view! { <NotFound/> })
    };
    view! { <main>{page}</main> }
}

/// Whether the path of the page being rendered is the live page's (`/`): the request's on
/// the server, `location`'s in the browser.
fn is_live_page() -> bool {
    #[cfg(feature = "ssr")]
    let path = use_context::<http::request::Parts>().map(|parts| parts.uri.path().to_string());
    #[cfg(not(feature = "ssr"))]
    let path = window().location().pathname().ok();
    path.as_deref() == Some("/")
}

/// The live names table with its connection state, in the chosen language.
#[component]
fn LivePage() -> impl IntoView {
    let live = use_live_names(expect_context::<PageSeed>());
    let lang = expect_context::<RwSignal<Lang>>();
    // A new language renders the page anew; the subscription above carries on.
    move || {
        let texts = lang.get().texts();
        let rows = changes::use_rows(live.latest);
        view! {
            <header>
                <h1>"livenames"</h1>
                <LanguageToggle lang texts/>
            </header>
            <ConnectionBadge live texts/>
            <PauseToggle live texts/>
            <LatestInfo latest=live.latest texts/>
            <SkippedNotice skipped=live.skipped texts/>
            // One veil over both fades the highlights of an event's rows (see `changes`).
            <div class=move || rows.with(Rows::class) data-testid="rows">
                <NamesTable rows texts/>
                <chart::BarChart rows texts/>
            </div>
            <EventLog log=live.log texts/>
            // Last, and kept in view by CSS: removing it on hydration moves nothing.
            <NoScriptNotice texts/>
        }
    }
}

/// Any path the app does not know; answers with HTTP 404 when rendered on the server.
#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let texts = use_context::<RwSignal<Lang>>()
        .map(|lang| lang.get_untracked())
        .unwrap_or_default()
        .texts();
    view! {
        <h1>"livenames"</h1>
        <p data-testid="not-found">{texts.not_found} <a href="/">{texts.back}</a></p>
    }
}
