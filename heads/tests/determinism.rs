//! The same seed twice gives an identical metrics.json; another seed gives a different one.

mod common;

use marnet_heads::report::run_output::{metrics_json, ModeRuns};
use marnet_heads::{train_mode, Mode};

fn metrics_text(seed: u64) -> String {
    let f = common::synthetic_features(5, 30, 8, 4);
    let mut cfg = common::small_config();
    (cfg.budget.epochs, cfg.budget.phase2_epochs) = (4, 3);
    let results: Vec<ModeRuns> = [Mode::Baseline, Mode::Fusion]
        .into_iter()
        .map(|m| ModeRuns { mode: m, runs: vec![train_mode(&f, &cfg, m, seed).unwrap()] })
        .collect();
    serde_json::to_string_pretty(&metrics_json(&results, &[])).unwrap()
}

#[test]
fn same_seed_gives_identical_metrics_json() {
    let a = metrics_text(0);
    let b = metrics_text(0);
    assert_eq!(a, b);
    assert!(a.contains("\"fusion\"") && a.contains("\"top5\""));
}

#[test]
fn features_and_results_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<marnet_heads::Features>();
    shareable::<marnet_heads::ModeResult>();
    shareable::<marnet_heads::HeadsConfig>();
}
