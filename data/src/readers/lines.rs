//! Text files as numbered lines: CRLF, a UTF-8 BOM and surrounding blanks removed (the real
//! VireoFood-172 and Ingredient-101 lists have CRLF endings, DESIGN.md §4).

use std::path::Path;

use anyhow::Context;

/// One line of a text file with its 1-based number, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub number: usize,
    pub text: String,
}

/// All lines of `path`, trimmed, trailing blank lines dropped (inner blank lines are kept so
/// that line-aligned files stay aligned). Invalid UTF-8 is replaced, not rejected.
pub(crate) fn read_lines(path: &Path) -> anyhow::Result<Vec<Line>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines: Vec<Line> =
        text.split('\n').enumerate().map(|(i, l)| Line { number: i + 1, text: l.trim().to_string() }).collect();
    while lines.last().is_some_and(|l| l.text.is_empty()) {
        lines.pop();
    }
    Ok(lines)
}

/// The non-blank lines of `path` (see [`read_lines`]).
pub(crate) fn read_nonblank_lines(path: &Path) -> anyhow::Result<Vec<Line>> {
    Ok(read_lines(path)?.into_iter().filter(|l| !l.text.is_empty()).collect())
}
