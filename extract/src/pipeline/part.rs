//! Rows of the part being extracted, accumulated batch by batch (DESIGN.md section 3):
//! `x_v` for every usable image, `x_s` only for train and val samples that have a text (test rows
//! keep a null `x_s`: the text is privileged information, unavailable at test time).

use super::bad_inputs::BadInput;
use anyhow::{ensure, Result};
use marnet_data::cache::FeatureRows;
use marnet_data::{Sample, Split};
use ndarray::Array2;

/// Whether a sample's text is embedded: it has one and is not in the test split.
pub fn wants_text(sample: &Sample) -> bool {
    sample.split != Split::Test && sample.text.is_some()
}

/// The rows of one part so far.
#[derive(Debug)]
pub struct PartRows {
    /// Part index.
    pub part: usize,
    d_v: usize,
    d_s: usize,
    ids: Vec<String>,
    splits: Vec<Split>,
    labels: Vec<u32>,
    x_v: Vec<f32>,
    x_s: Vec<f32>,
    has_text: Vec<bool>,
    /// Samples of this part left out (`--on-bad-image skip`).
    pub bad: Vec<BadInput>,
}

impl PartRows {
    /// An empty part `part` with widths D_v, D_s.
    pub fn new(part: usize, d_v: usize, d_s: usize) -> PartRows {
        PartRows {
            part,
            d_v,
            d_s,
            ids: Vec::new(),
            splits: Vec::new(),
            labels: Vec::new(),
            x_v: Vec::new(),
            x_s: Vec::new(),
            has_text: Vec::new(),
            bad: Vec::new(),
        }
    }

    /// Appends one row: `x_v` (D_v values) and `x_s` (D_s values) or `None` for a null text.
    ///
    /// # Errors
    /// A vector has the wrong width.
    pub fn push(&mut self, sample: &Sample, x_v: &[f32], x_s: Option<&[f32]>) -> Result<()> {
        ensure!(
            x_v.len() == self.d_v,
            "sample {}: image feature has {} values, expected D_v = {}",
            sample.id,
            x_v.len(),
            self.d_v
        );
        self.ids.push(sample.id.clone());
        self.splits.push(sample.split);
        self.labels.push(sample.label);
        self.x_v.extend_from_slice(x_v);
        match x_s {
            Some(s) => {
                ensure!(
                    s.len() == self.d_s,
                    "sample {}: text feature has {} values, expected D_s = {}",
                    sample.id,
                    s.len(),
                    self.d_s
                );
                self.x_s.extend_from_slice(s);
                self.has_text.push(true);
            }
            None => {
                self.x_s.extend(std::iter::repeat_n(0.0, self.d_s));
                self.has_text.push(false);
            }
        }
        Ok(())
    }

    /// Number of rows so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The cache rows: `x_v` (n, D_v), `x_s` (n, D_s) with zero rows where `has_text` is false.
    pub fn into_feature_rows(self) -> Result<(FeatureRows, Vec<BadInput>)> {
        let n = self.ids.len();
        let rows = FeatureRows {
            ids: self.ids,
            splits: self.splits,
            labels: self.labels,
            x_v: Array2::from_shape_vec((n, self.d_v), self.x_v)?,
            x_s: Array2::from_shape_vec((n, self.d_s), self.x_s)?,
            has_text: self.has_text,
        };
        Ok((rows, self.bad))
    }
}
