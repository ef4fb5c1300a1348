//! Which of the latest event's rows changed: the table and the chart read the same
//! [`Rows`], so a row and its bar are highlighted together.
//!
//! A changed row and its bar get a still highlight (`changed`). With motion, the highlight
//! fades because one veil over the table and the chart fades in above every highlight at once
//! (see `style/main.css`): one animation per event instead of one per row, which is what keeps
//! an open page cheap. The veil's element keeps its place from one event to the next, and an
//! element that keeps its animation would not play it again; so the events alternate its
//! class between two fades of the same look (`fade`, then `fade again`): a new animation name
//! starts the fade anew.

use crate::event::{NameEntry, NamesEvent};
use leptos::prelude::*;

/// The latest event's rows in table order, each marked when it changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rows {
    pub rows: Vec<Row>,
    /// Flips with every event: which of the two fades this event plays.
    again: bool,
}

/// One row of the latest event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub entry: NameEntry,
    /// Whether its name or value differs from the row at the same position in the previous
    /// event.
    pub changed: bool,
}

impl Row {
    /// The class of the row and its bar: `changed` when it is highlighted.
    pub fn class(&self) -> Option<&'static str> {
        self.changed.then_some("changed")
    }

    /// `data-changed` for tests: `"true"` on a highlighted row, absent otherwise.
    pub fn changed(&self) -> Option<&'static str> {
        self.changed.then_some("true")
    }
}

impl Rows {
    /// The rows of `list`, compared with the rows shown before (`None`: nothing was shown, as
    /// on the server or when hydrating, so nothing is highlighted).
    pub fn after(previous: Option<&Self>, list: &[NameEntry]) -> Self {
        // The first event to compare plays plain `fade`; the ones after it alternate.
        let again = previous.is_none_or(|previous| !previous.again);
        let old_rows = previous.map_or(&[][..], |previous| &previous.rows);
        let rows = list
            .iter()
            .enumerate()
            .map(|(position, entry)| {
                let changed = old_rows.get(position).is_some_and(|old| old.entry != *entry);
                Row { entry: entry.clone(), changed }
            })
            .collect();
        Self { rows, again }
    }

    /// The class of the element around the table and the chart, whose veil fades this
    /// event's highlights: `rows`, with the event's fade when a row changed.
    pub fn class(&self) -> &'static str {
        match (self.rows.iter().any(|row| row.changed), self.again) {
            (false, _) => "rows",
            (true, false) => "rows fade",
            (true, true) => "rows fade again",
        }
    }
}

/// The rows of `latest`, recomputed with each event; created per render of the page, so a
/// page rendered anew (in another language) starts with nothing highlighted.
pub fn use_rows(latest: Signal<Option<NamesEvent>>) -> Memo<Rows> {
    Memo::new(move |previous| {
        latest.with(|event| Rows::after(previous, event.as_ref().map_or(&[], |e| &e.list)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(values: &[u32]) -> Vec<NameEntry> {
        values.iter().map(|&value| NameEntry { name: format!("n{value}"), value }).collect()
    }

    fn highlights(rows: &Rows) -> Vec<bool> {
        rows.rows.iter().map(|row| row.changed).collect()
    }

    #[test]
    fn nothing_is_highlighted_without_a_previous_event() {
        let first = Rows::after(None, &entries(&[1, 2]));
        assert_eq!(highlights(&first), [false, false]);
        assert_eq!(first.class(), "rows");
        assert_eq!(first.rows[1].entry, entries(&[2])[0]);
    }

    #[test]
    fn rows_that_differ_at_their_position_are_highlighted() {
        let first = Rows::after(None, &entries(&[1, 2, 3]));
        let renamed = NameEntry { name: "other".into(), value: 3 };
        let second = Rows::after(
            Some(&first),
            &[entries(&[1])[0].clone(), entries(&[5])[0].clone(), renamed],
        );
        assert_eq!(highlights(&second), [false, true, true]);
        assert_eq!(second.rows[1].class(), Some("changed"));
        assert_eq!(second.rows[1].changed(), Some("true"));
        assert_eq!((second.rows[0].class(), second.rows[0].changed()), (None, None));
    }

    #[test]
    fn consecutive_events_alternate_the_fade() {
        let first = Rows::after(None, &entries(&[1]));
        let second = Rows::after(Some(&first), &entries(&[2]));
        let third = Rows::after(Some(&second), &entries(&[3]));
        let fourth = Rows::after(Some(&third), &entries(&[4]));
        assert_eq!(
            [&second, &third, &fourth].map(Rows::class),
            ["rows fade", "rows fade again", "rows fade"]
        );
        assert_eq!(highlights(&third), [true]);
    }

    #[test]
    fn an_event_that_changes_nothing_plays_no_fade() {
        let first = Rows::after(None, &entries(&[1]));
        let second = Rows::after(Some(&first), &entries(&[2]));
        let same = Rows::after(Some(&second), &entries(&[2]));
        assert_eq!(same.class(), "rows");
        assert_eq!(highlights(&same), [false]);
    }

    #[test]
    fn a_row_without_a_predecessor_is_not_highlighted() {
        let before = Rows::after(None, &[]);
        let after = Rows::after(Some(&before), &entries(&[1, 2]));
        assert_eq!(highlights(&after), [false, false]);
        assert_eq!(after.class(), "rows");
    }
}
