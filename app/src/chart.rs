//! The latest event's 10 values as an SVG bar chart, drawn by the page itself.
//!
//! The `<rect>`s are created once, one per row position, and only their `style` changes
//! with each event, so CSS transitions on `height` and `y` move them smoothly (see
//! `style/main.css`, which turns them off for `prefers-reduced-motion`). The geometry is set
//! as CSS properties: SVG attributes do not transition, CSS properties do.

use crate::event::NamesEvent;
use crate::i18n::Texts;
use leptos::prelude::*;

/// The viewBox's size; a value of [`MAX_VALUE`] fills the whole height.
pub const WIDTH: u32 = 300;
pub const HEIGHT: u32 = 120;
/// The largest value an entry can have (the surname string holds 568 characters).
pub const MAX_VALUE: u32 = 567;
/// Each bar gets an equal slot of the width; the bar is the slot minus a gap.
const SLOTS: u32 = 10;
const SLOT: u32 = WIDTH / SLOTS;
const GAP: u32 = 6;

/// A bar's height in viewBox units, rounded to the nearest; integers only, since formatting
/// an f64 would add float printing to the WASM.
pub fn bar_height(value: u32) -> u32 {
    (value.min(MAX_VALUE) * HEIGHT + MAX_VALUE / 2) / MAX_VALUE
}

/// The bars of the latest event, in table order; an empty chart before the first event.
#[component]
pub fn BarChart(latest: Signal<Option<NamesEvent>>, texts: &'static Texts) -> impl IntoView {
    // Only a change in the number of rows recreates the bars; every other event restyles them.
    let count = Memo::new(move |_| latest.with(|event| event.as_ref().map_or(0, |e| e.list.len())));
    let bars = move || (0..count.get()).map(|position| bar(latest, position)).collect_view();
    view! {
        <svg
            class="chart"
            data-testid="chart"
            role="img"
            aria-label=texts.chart
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
        >
            {bars}
        </svg>
    }
}

/// The bar for the row at `position`.
fn bar(latest: Signal<Option<NamesEvent>>, position: usize) -> impl IntoView {
    let value = move || {
        latest.with(|event| {
            event.as_ref().and_then(|e| e.list.get(position)).map_or(0, |entry| entry.value)
        })
    };
    let style = move || {
        let height = bar_height(value());
        format!("height:{height}px;y:{}px", HEIGHT - height)
    };
    let x = position as u32 * SLOT + GAP / 2;
    view! { <rect data-testid="bar" data-value=value x=x width=SLOT - GAP style=style></rect> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_are_proportional_and_rounded() {
        assert_eq!(bar_height(0), 0);
        assert_eq!(bar_height(MAX_VALUE), HEIGHT);
        for value in 0..=MAX_VALUE {
            let exact = value as f64 * HEIGHT as f64 / MAX_VALUE as f64;
            assert!((bar_height(value) as f64 - exact).abs() <= 0.5, "value {value}");
        }
        assert_eq!(bar_height(10_000), HEIGHT);
    }
}
