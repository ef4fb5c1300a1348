//! The latest event's 10 values as a bar chart in HTML and CSS, each bar labelled with its
//! name and value.
//!
//! Screen readers meet the chart once, as an image whose name says what it shows and whose
//! description holds the values in words; nothing in it is live, so an event does not
//! announce it again. Leptos updates the bars in place with each event and only their
//! `--value` changes, so CSS moves them (see `style/main.css`, which keeps them still for
//! `prefers-reduced-motion`); a changed bar is highlighted with its table row
//! ([`crate::changes`]). HTML rather than SVG, so that the labels keep the page's text size
//! on a narrow screen instead of shrinking with the drawing.

use crate::changes::{Row, Rows};
use crate::i18n::Texts;
use leptos::prelude::*;

/// The largest value an entry can have (the surname string holds 568 characters): a full bar.
pub const MAX_VALUE: u32 = 567;

/// The id of the chart's description, for `aria-describedby`.
const DESCRIPTION_ID: &str = "chart-values";

/// One bar per row of the latest event, in table order; an empty chart before the first.
#[component]
pub fn BarChart(rows: Memo<Rows>, texts: &'static Texts) -> impl IntoView {
    let bars = move || rows.with(|rows| rows.rows.iter().map(bar).collect_view());
    let description = move || rows.with(|rows| describe(&rows.rows, texts.list_separator));
    view! {
        <figure
            class="chart"
            data-testid="chart"
            role="img"
            aria-label=texts.chart
            aria-describedby=DESCRIPTION_ID
            style=format!("--max:{MAX_VALUE}")
        >
            {bars}
            // Hidden, yet still the figure's description: read when a reader reaches the
            // figure, never on its own.
            <p id=DESCRIPTION_ID hidden>{description}</p>
        </figure>
    }
}

/// A bar with its name before it and its value after it; CSS sizes it from `--value`.
fn bar(row: &Row) -> impl IntoView + use<> {
    let value = row.entry.value;
    view! {
        <div class=row.class() data-testid="bar" data-value=value data-changed=row.changed() style=format!("--value:{value}")>
            <span class="name" data-testid="bar-name">{row.entry.name.clone()}</span>
            <span class="fill" data-testid="bar-fill"></span>
            <span class="value" data-testid="bar-value">{value}</span>
        </div>
    }
}

/// The chart's text alternative: each row's name and value, in table order.
fn describe(rows: &[Row], separator: &str) -> String {
    let described: Vec<String> =
        rows.iter().map(|row| format!("{} {}", row.entry.name, row.entry.value)).collect();
    described.join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NameEntry;

    #[test]
    fn the_description_names_every_value_in_order() {
        let list =
            [("赵钱", 3), ("孙", 567)].map(|(name, value)| NameEntry { name: name.into(), value });
        let rows = Rows::after(None, &list);
        assert_eq!(describe(&rows.rows, ", "), "赵钱 3, 孙 567");
        assert_eq!(describe(&[], ", "), "");
    }
}
