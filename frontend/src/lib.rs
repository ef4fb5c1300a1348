//! The WASM entry point: hydrates the page the server rendered, if this script is of the
//! same build as the page.

/// Called by the generated JS once the WASM has loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
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
    leptos::mount::hydrate_body(app::App);
}
