//! End-to-end learning on a synthetic cache where x_v carries the class only non-linearly
//! (see tests/common): the fusion of EMA and sampled CDR features must beat the linear baseline
//! on test top-1, and the training loss must fall.

mod common;

use marnet_heads::{train_mode, Mode};

#[test]
fn fusion_beats_baseline_and_loss_falls() {
    let f = common::synthetic_features(10, 60, 16, 8);
    let cfg = common::small_config();
    let base = train_mode(&f, &cfg, Mode::Baseline, 0).unwrap();
    let fusion = train_mode(&f, &cfg, Mode::Fusion, 0).unwrap();
    eprintln!(
        "baseline test top-1 {:.1}, fusion test top-1 {:.1}, val cosine {:?}",
        base.test.top1, fusion.test.top1, fusion.generation
    );
    // x_v = ±p_c + noise has zero class means: a linear classifier is near chance (10 %).
    assert!(base.test.top1 < 60.0, "baseline test top-1 {}", base.test.top1);
    assert!(fusion.test.top1 > base.test.top1 + 20.0, "fusion {} vs baseline {}", fusion.test.top1, base.test.top1);
    let p1: Vec<f64> = fusion.history.iter().filter(|e| e.phase == 1).map(|e| e.train_loss).collect();
    assert!(p1.last().unwrap() < &(0.7 * p1[0]), "phase-1 loss {:?}", p1);
    // The sampled text features are informative: positive cosine with the true x_s on val.
    let g = fusion.generation.as_ref().unwrap();
    assert!(g.val_cosine > 0.3, "val cosine {}", g.val_cosine);
    assert_eq!(fusion.test_scores.len(), f.test.len() * 10);
    let emb = fusion.embeddings.as_ref().unwrap();
    assert_eq!(emb.x_cdr.len(), f.test.len() * cfg.objective.d);
}
