//! Every sample id once (DESIGN.md §4): a manifest listing `img/red0.png` twice, once as
//! `red`/train and once as `blue`/val, would train and validate on the same image with two
//! labels. All readers refuse a repeated id, naming both places it was read.

use std::collections::HashMap;
use std::fmt::Display;

/// Records ids and where each was first read.
#[derive(Default)]
pub(crate) struct UniqueIds {
    first: HashMap<String, String>,
}

impl UniqueIds {
    /// Records `id` read at `place` (e.g. `manifest.csv line 4`, `shards/0.tar key 0003`).
    ///
    /// # Errors
    /// `id` was recorded before: the message names the id and both places.
    pub fn insert(&mut self, id: &str, place: impl Display) -> anyhow::Result<()> {
        let place = place.to_string();
        if let Some(prev) = self.first.get(id) {
            anyhow::bail!(
                "{place}: sample id {id:?} repeats {prev}: each image may appear once (one label, one split); \
                 remove one of the two"
            );
        }
        self.first.insert(id.to_string(), place);
        Ok(())
    }
}

/// Checks that no id repeats in `(id, place)` pairs.
///
/// # Errors
/// As [`UniqueIds::insert`], for the first repeated id.
pub(crate) fn check_unique<'a, P: Display + 'a>(items: impl IntoIterator<Item = (&'a str, P)>) -> anyhow::Result<()> {
    let mut seen = UniqueIds::default();
    for (id, place) in items {
        seen.insert(id, place)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_names_both_places() {
        let err = check_unique([("a.png", "m.csv line 2"), ("b.png", "m.csv line 3"), ("a.png", "m.csv line 4")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("m.csv line 4: sample id \"a.png\" repeats m.csv line 2"), "{err}");
        assert!(check_unique([("a", "x"), ("b", "y")]).is_ok());
    }
}
