//! What one `marnet-extract run` did, printed at the end (DESIGN.md section 7), with the split of
//! the time between image decoding and the model's forward passes, so that a user sees which of
//! the two limits the speed.

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
    /// Where the time went, per pipeline side.
    pub stages: StageSeconds,
}

/// Wall-clock seconds per pipeline stage. Decoding runs on its own thread (rayon inside) and the
/// model on the calling thread, so with good overlap `decode` and `image_forward + text_forward +
/// write` each approach the run's total and both waits stay near zero.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageSeconds {
    /// Decoding and preprocessing images (producer thread, all rayon threads at once).
    pub decode: f64,
    /// The producer blocked because prefetched batches were not yet taken: decoding waited for
    /// the model.
    pub decode_waited: f64,
    /// The model side waited for a decoded batch.
    pub model_waited: f64,
    /// Image encoder forward passes, including the copy back to the host.
    pub image_forward: f64,
    /// Text encoder forward passes (tokenising included).
    pub text_forward: f64,
    /// Writing Parquet parts and bad-input lists.
    pub write: f64,
}

impl fmt::Display for StageSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "decode {:.1} s (waited {:.1} s for the model) | model: image forward {:.1} s, text forward {:.1} s, write {:.1} s (waited {:.1} s for decoding)",
            self.decode, self.decode_waited, self.image_forward, self.text_forward, self.write, self.model_waited
        )
    }
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
            if self.cache_complete { "complete" } else { "incomplete: other shards or a rerun must finish it" }
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
        writeln!(f, "  time: {:.1} s, {:.2} images/s", self.seconds, self.images_per_second())?;
        write!(f, "  split: {}", self.stages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_decode_forward_split() {
        let s = Summary {
            out: "caches/x".into(),
            total_parts: 2,
            parts_written: 2,
            cache_complete: true,
            rows: [3, 1, 0],
            dims: (768, 384),
            seconds: 2.0,
            images: 4,
            stages: StageSeconds {
                decode: 1.26,
                decode_waited: 0.5,
                model_waited: 0.04,
                image_forward: 1.5,
                text_forward: 0.24,
                write: 0.13,
            },
            ..Summary::default()
        };
        let text = s.to_string();
        let lines: Vec<&str> = text.lines().collect();
        // 4 images in 2.0 s = 2.00 images/s; seconds rounded to one decimal: 1.26 -> 1.3,
        // 0.24 -> 0.2, 0.13 -> 0.1, 0.04 -> 0.0.
        assert_eq!(lines[4], "  time: 2.0 s, 2.00 images/s");
        assert_eq!(
            lines[5],
            "  split: decode 1.3 s (waited 0.5 s for the model) | model: image forward 1.5 s, text forward 0.2 s, write 0.1 s (waited 0.0 s for decoding)"
        );
        assert_eq!(lines.len(), 6);
    }
}
