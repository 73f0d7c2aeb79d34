//! What one `marnet-extract run` did, printed at the end (DESIGN.md section 7).

use marnet_data::Split;
use std::fmt;

/// Counts and timings of one extraction run (this process only; other shards report their own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Cache folder.
    pub out: String,
    /// Parts of the whole cache.
    pub total_parts: usize,
    /// Parts this run wrote.
    pub parts_written: usize,
    /// Parts of this shard that were already complete and were skipped.
    pub parts_already_done: usize,
    /// Whether every part of the cache now exists (all shards done).
    pub cache_complete: bool,
    /// Rows written by this run per split: train, val, test.
    pub rows: [usize; 3],
    /// Rows written with a text feature `x_s`.
    pub rows_with_text: usize,
    /// Samples left out because their image was unusable (`--on-bad-image skip`).
    pub skipped: usize,
    /// Texts cut to the model's max tokens.
    pub truncated_texts: usize,
    /// D_v, D_s.
    pub dims: (usize, usize),
    /// Wall-clock seconds of the extraction loop (model loading excluded).
    pub seconds: f64,
    /// Images embedded (rows written + skipped images are not counted).
    pub images: usize,
}

impl Summary {
    /// Adds one written row of `split`.
    pub fn add_row(&mut self, split: Split, with_text: bool) {
        self.rows[Split::ALL.iter().position(|s| *s == split).unwrap_or(0)] += 1;
        self.rows_with_text += usize::from(with_text);
        self.images += 1;
    }

    /// Images per second of wall-clock time.
    pub fn images_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.images as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "extracted to {}", self.out)?;
        writeln!(
            f,
            "  parts: {} written, {} already done, {} in the cache ({})",
            self.parts_written,
            self.parts_already_done,
            self.total_parts,
            if self.cache_complete {
                "complete"
            } else {
                "incomplete: other shards or a rerun must finish it"
            }
        )?;
        writeln!(
            f,
            "  rows written by this run: train {}, val {}, test {} ({} with text x_s); skipped bad images: {}; truncated texts: {}",
            self.rows[0], self.rows[1], self.rows[2], self.rows_with_text, self.skipped, self.truncated_texts
        )?;
        if self.skipped > 0 {
            // The list is a hidden file (so that dataframe readers skip it): say where it is.
            writeln!(f, "  skipped images are listed in {}/{}", self.out, super::BAD_INPUTS_FILE)?;
        }
        writeln!(f, "  dims: x_v {}, x_s {}", self.dims.0, self.dims.1)?;
        write!(
            f,
            "  time: {:.1} s, {:.2} images/s",
            self.seconds,
            self.images_per_second()
        )
    }
}
