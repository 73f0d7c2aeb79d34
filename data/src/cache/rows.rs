//! The rows of a cache part: ids, splits, labels and the feature matrices (DESIGN.md §3).

use ndarray::Array2;

use crate::Split;

/// Per-sample features of one part (or of a whole cache once read back).
///
/// Invariants (checked by [`FeatureRows::validate`]): every vector has `n` entries, `x_v` is
/// (n, D_v), `x_s` is (n, D_s), all `x_v` values and the `x_s` rows with `has_text` are finite.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRows {
    /// Sample ids (image path relative to the dataset root).
    pub ids: Vec<String>,
    /// Split of each row.
    pub splits: Vec<Split>,
    /// 0-based class index of each row.
    pub labels: Vec<u32>,
    /// Image features, (n, D_v), f32.
    pub x_v: Array2<f32>,
    /// Text features, (n, D_s), f32; rows without text are zeros (stored as null).
    pub x_s: Array2<f32>,
    /// Whether each row has a text feature.
    pub has_text: Vec<bool>,
}

impl FeatureRows {
    /// No rows, with the given widths.
    pub fn empty(d_v: usize, d_s: usize) -> FeatureRows {
        FeatureRows {
            ids: Vec::new(),
            splits: Vec::new(),
            labels: Vec::new(),
            x_v: Array2::zeros((0, d_v)),
            x_s: Array2::zeros((0, d_s)),
            has_text: Vec::new(),
        }
    }

    /// Number of rows n.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Checks lengths, widths, label range (`< n_classes`) and that features are finite.
    ///
    /// # Errors
    /// The first violation, naming the row id and the column.
    pub fn validate(&self, d_v: usize, d_s: usize, n_classes: usize) -> anyhow::Result<()> {
        let n = self.ids.len();
        anyhow::ensure!(
            self.splits.len() == n && self.labels.len() == n && self.has_text.len() == n,
            "feature rows disagree in length: {n} ids, {} splits, {} labels, {} has_text",
            self.splits.len(),
            self.labels.len(),
            self.has_text.len()
        );
        anyhow::ensure!(self.x_v.dim() == (n, d_v), "x_v has shape {:?}, expected ({n}, {d_v})", self.x_v.dim());
        anyhow::ensure!(self.x_s.dim() == (n, d_s), "x_s has shape {:?}, expected ({n}, {d_s})", self.x_s.dim());
        for (i, id) in self.ids.iter().enumerate() {
            anyhow::ensure!(
                (self.labels[i] as usize) < n_classes && self.labels[i] <= i32::MAX as u32,
                "row {id:?}: label {} out of range for {n_classes} classes",
                self.labels[i]
            );
            if let Some(j) = self.x_v.row(i).iter().position(|v| !v.is_finite()) {
                anyhow::bail!("row {id:?}: x_v[{j}] is {} (features must be finite)", self.x_v[[i, j]]);
            }
            if self.has_text[i] {
                if let Some(j) = self.x_s.row(i).iter().position(|v| !v.is_finite()) {
                    anyhow::bail!("row {id:?}: x_s[{j}] is {} (features must be finite)", self.x_s[[i, j]]);
                }
            }
        }
        Ok(())
    }
}
