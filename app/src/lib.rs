//! The livenames page, shared by the server (server-side rendering, feature `ssr`) and the
//! browser (hydration, feature `hydrate`).
//!
//! - [`event`]: the types that cross the wire (payload, event id).
//! - [`live`]: the `EventSource` subscription as signals.
//! - [`components`]: the table and status pieces of the page.

pub mod chart;
pub mod components;
pub mod event;
pub mod live;

use components::{
    ConnectionBadge, EventLog, LatestInfo, NamesTable, NoScriptNotice, PauseToggle, SkippedNotice,
};
use event::PageSeed;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{Route, Router, Routes},
};
use live::use_live_names;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
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

/// The app's routes: the live table at `/`, a real 404 page everywhere else.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/livenames.css"/>
        <Title text="livenames"/>
        <Router>
            <main>
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=LivePage/>
                </Routes>
            </main>
        </Router>
    }
}

/// The live names table with its connection state.
#[component]
fn LivePage() -> impl IntoView {
    // Computed on the server (which provides it as context) and sent along in the HTML, so
    // the hydrated page starts from exactly the event the server rendered.
    let seed = SharedValue::new(|| use_context::<PageSeed>().unwrap_or_default());
    let live = use_live_names(seed.into_inner());
    view! {
        <h1>"livenames"</h1>
        <NoScriptNotice/>
        <ConnectionBadge live/>
        <PauseToggle live/>
        <LatestInfo latest=live.latest/>
        <SkippedNotice skipped=live.skipped/>
        <NamesTable latest=live.latest/>
        <chart::BarChart latest=live.latest/>
        <EventLog log=live.log/>
    }
}

/// Any path the app does not know; answers with HTTP 404 when rendered on the server.
#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · livenames"/>
        <h1>"Page not found"</h1>
        <p data-testid="not-found">"There is nothing here. " <a href="/">"Back to the live names"</a></p>
    }
}
