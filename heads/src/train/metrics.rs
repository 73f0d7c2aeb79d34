//! Classification metrics (DESIGN §2 "Metrics"): top-1 / top-5 accuracy in percent and mean
//! per-class recall, computed on the host from a score matrix.
//!
//! **Tie rule**: the rank of the true class is the number of classes that score strictly higher
//! plus the number of classes with an equal score and a smaller class index (the order of a stable
//! descending sort, and of `argmax` returning the first maximum). A row is top-k correct when that
//! rank is `< k`. NaN scores count as lower than every number.

use serde::{Deserialize, Serialize};

/// Rank (0-based) of class `label` in `scores` under the tie rule above.
pub fn rank_of(scores: &[f32], label: usize) -> usize {
    let key = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x };
    let s = key(scores[label]);
    scores.iter().enumerate().filter(|&(j, &x)| key(x) > s || (key(x) == s && j < label)).count()
}

/// Top-k accuracy in percent of `scores` (n × k_classes, row-major) against `labels` (n).
/// Returns 0 for n = 0.
pub fn topk(scores: &[f32], k_classes: usize, labels: &[u32], k: usize) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let hits = labels
        .iter()
        .enumerate()
        .filter(|&(i, &y)| rank_of(&scores[i * k_classes..(i + 1) * k_classes], y as usize) < k)
        .count();
    100.0 * hits as f64 / labels.len() as f64
}

/// Indices of the `k` best classes of one row, best first (same tie rule).
pub fn top_indices(row: &[f32], k: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..row.len() as u32).collect();
    let key = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x };
    idx.sort_by(|&a, &b| key(row[b as usize]).total_cmp(&key(row[a as usize])).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Accuracy summary of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    /// Top-1 accuracy, percent.
    pub top1: f64,
    /// Top-5 accuracy, percent.
    pub top5: f64,
    /// Mean over classes present in the split of their top-1 recall, percent.
    pub mean_class_recall: f64,
    /// Top-1 recall per class, percent; `None` for classes absent from the split.
    pub per_class_recall: Vec<Option<f64>>,
    /// Number of rows.
    pub n: usize,
}

/// All metrics of `scores` (n × k_classes) against `labels`.
pub fn evaluate(scores: &[f32], k_classes: usize, labels: &[u32]) -> SplitMetrics {
    let mut hits = vec![0usize; k_classes];
    let mut count = vec![0usize; k_classes];
    for (i, &y) in labels.iter().enumerate() {
        let y = y as usize;
        count[y] += 1;
        if rank_of(&scores[i * k_classes..(i + 1) * k_classes], y) == 0 {
            hits[y] += 1;
        }
    }
    let per_class: Vec<Option<f64>> =
        (0..k_classes).map(|c| (count[c] > 0).then(|| 100.0 * hits[c] as f64 / count[c] as f64)).collect();
    let present: Vec<f64> = per_class.iter().flatten().copied().collect();
    let mean = if present.is_empty() { 0.0 } else { present.iter().sum::<f64>() / present.len() as f64 };
    SplitMetrics {
        top1: topk(scores, k_classes, labels, 1),
        top5: topk(scores, k_classes, labels, 5),
        mean_class_recall: mean,
        per_class_recall: per_class,
        n: labels.len(),
    }
}
