//! The livenames page, shared by the server (server-side rendering, feature `ssr`) and the
//! browser (hydration, feature `hydrate`).
//!
//! - [`event`]: the types that cross the wire (payload, event id).
//! - [`live`]: the `EventSource` subscription as signals; [`tabs`]: one connection shared
//!   by all of a browser's tabs.
//! - [`components`] and [`chart`]: the table, chart and status pieces of the page;
//!   [`changes`]: which rows changed, highlighted alike in the table and the chart.
//! - [`i18n`]: every string the page shows, in English and Chinese.

pub mod changes;
pub mod chart;
pub mod components;
pub mod event;
pub mod i18n;
pub mod live;
pub mod tabs;

use components::{
    ConnectionBadge, EventLog, LanguageToggle, LatestInfo, NamesTable, NoScriptNotice, PauseToggle,
    SkippedNotice,
};
use event::PageSeed;
use i18n::Lang;
use leptos::prelude::*;
use leptos::either::Either;
use leptos_meta::{Html, MetaTags, Stylesheet, Title, provide_meta_context};
use live::use_live_names;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
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
/// One page needs no router (which would cost the WASM a fifth of its size): the path picks
/// the view, from the request on the server and from `location` in the browser, so both
/// render the same. Links are plain links; the server answers unknown paths with 404.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Computed on the server (which provides it as context) and sent along in the HTML, so
    // the hydrated page starts from exactly the event and language the server rendered.
    let seed = SharedValue::new(|| use_context::<PageSeed>().unwrap_or_default()).into_inner();
    let lang = RwSignal::new(seed.lang);
    provide_context(seed);
    provide_context(lang);
    view! {
        <Html {..} lang=move || lang.get().code()/>
        <Stylesheet id="leptos" href="/pkg/livenames.css"/>
        <Title text="livenames"/>
        <main>
            {if page_path() == "/" { Either::Left(view! { <LivePage/> }) } else { Either::Right(view! { <NotFound/> }) }}
        </main>
    }
}

/// The path of the page being rendered.
fn page_path() -> String {
    #[cfg(feature = "ssr")]
    let path = use_context::<http::request::Parts>().map(|parts| parts.uri.path().to_string());
    #[cfg(not(feature = "ssr"))]
    let path = window().location().pathname().ok();
    path.unwrap_or_default()
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
            <NoScriptNotice texts/>
            <ConnectionBadge live texts/>
            <PauseToggle live texts/>
            <LatestInfo latest=live.latest texts/>
            <SkippedNotice skipped=live.skipped texts/>
            <NamesTable rows texts/>
            <chart::BarChart rows texts/>
            <EventLog log=live.log texts/>
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
        <Title text=texts.not_found_title/>
        <h1>"livenames"</h1>
        <p data-testid="not-found">{texts.not_found} <a href="/">{texts.back}</a></p>
    }
}
