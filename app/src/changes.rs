//! Which of the latest event's rows changed: the table and the chart read the same
//! [`Rows`], so a row and its bar are highlighted together.
//!
//! Leptos updates rows and bars in place from one event to the next, and an element that keeps
//! its `changed` class would not play its fade again. So the events alternate between two
//! classes (`changed`, then `changed again`), which the stylesheet gives two animations of
//! the same look: a new animation name starts the fade anew.

use crate::event::{NameEntry, NamesEvent};
use leptos::prelude::*;

/// The latest event's rows in table order, each with its highlight.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rows {
    pub rows: Vec<Row>,
    /// Flips with every event: which of the two highlight classes this event's changes get.
    again: bool,
}

/// One row of the latest event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub entry: NameEntry,
    /// The class of the row and its bar: `Some` when its name or value differs from the row
    /// at the same position in the previous event.
    pub highlight: Option<&'static str>,
}

impl Row {
    /// `data-changed` for tests: `"true"` on a highlighted row, absent otherwise.
    pub fn changed(&self) -> Option<&'static str> {
        self.highlight.map(|_| "true")
    }
}

impl Rows {
    /// The rows of `list`, compared with the rows shown before (`None`: nothing was shown, as
    /// on the server or when hydrating, so nothing is highlighted).
    pub fn after(previous: Option<&Self>, list: &[NameEntry]) -> Self {
        // The first event to compare gets plain `changed`; the ones after it alternate.
        let again = previous.is_none_or(|previous| !previous.again);
        let class = if again { "changed again" } else { "changed" };
        let old_rows = previous.map_or(&[][..], |previous| &previous.rows);
        let rows = list
            .iter()
            .enumerate()
            .map(|(position, entry)| {
                let changed = old_rows.get(position).is_some_and(|old| old.entry != *entry);
                Row { entry: entry.clone(), highlight: changed.then_some(class) }
            })
            .collect();
        Self { rows, again }
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

    fn highlights(rows: &Rows) -> Vec<Option<&'static str>> {
        rows.rows.iter().map(|row| row.highlight).collect()
    }

    #[test]
    fn nothing_is_highlighted_without_a_previous_event() {
        let first = Rows::after(None, &entries(&[1, 2]));
        assert_eq!(highlights(&first), [None, None]);
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
        assert_eq!(highlights(&second), [None, Some("changed"), Some("changed")]);
        assert_eq!(second.rows[1].changed(), Some("true"));
        assert_eq!(second.rows[0].changed(), None);
    }

    #[test]
    fn consecutive_events_alternate_the_highlight_class() {
        let first = Rows::after(None, &entries(&[1]));
        let second = Rows::after(Some(&first), &entries(&[2]));
        let third = Rows::after(Some(&second), &entries(&[3]));
        let fourth = Rows::after(Some(&third), &entries(&[4]));
        assert_eq!(highlights(&second), [Some("changed")]);
        assert_eq!(highlights(&third), [Some("changed again")]);
        assert_eq!(highlights(&fourth), [Some("changed")]);
    }

    #[test]
    fn a_row_without_a_predecessor_is_not_highlighted() {
        let before = Rows::after(None, &[]);
        let after = Rows::after(Some(&before), &entries(&[1, 2]));
        assert_eq!(highlights(&after), [None, None]);
    }
}
