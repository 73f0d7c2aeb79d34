//! `precision = "bf16"` end to end on the learning task of tests/learning.rs: the fusion model
//! trained with bf16 products still learns what f32 learns, and the products really change.
//!
//! bf16 products run wherever the tests do (the AVX-512 BF16 / AMX kernel where the CPU has it,
//! the rounded operands through the f32 gemm elsewhere), so this process allows the latter
//! before anything trains.

mod common;

use marnet_heads::nn::precision::{Precision, ALLOW_PORTABLE_ENV};
use marnet_heads::{train_mode, Mode};

#[test]
fn bf16_training_learns_like_f32_and_changes_the_losses() {
    // SAFETY (of the environment write): the only test in this binary, run before any thread
    // of this process reads the environment.
    std::env::set_var(ALLOW_PORTABLE_ENV, "1");
    let f = common::synthetic_features(10, 60, 16, 8);
    let mut cfg = common::small_config();
    let base = train_mode(&f, &cfg, Mode::Baseline, 0).unwrap();
    let f32_run = train_mode(&f, &cfg, Mode::Fusion, 0).unwrap();
    cfg.run.precision = Precision::Bf16;
    let bf16_run = train_mode(&f, &cfg, Mode::Fusion, 0).unwrap();
    eprintln!(
        "test top-1: baseline {:.1}, fusion f32 {:.1}, fusion bf16 {:.1}",
        base.test.top1, f32_run.test.top1, bf16_run.test.top1
    );
    // As in tests/learning.rs: the baseline is near chance (10 %), fusion far above it.
    assert!(
        bf16_run.test.top1 > base.test.top1 + 20.0,
        "bf16 fusion {} vs baseline {}",
        bf16_run.test.top1,
        base.test.top1
    );
    assert!(
        (bf16_run.test.top1 - f32_run.test.top1).abs() < 10.0,
        "bf16 {} vs f32 {}",
        bf16_run.test.top1,
        f32_run.test.top1
    );
    let losses = |r: &marnet_heads::ModeResult| -> Vec<f64> {
        r.history.iter().filter(|e| e.phase == 1).map(|e| e.train_loss).collect()
    };
    let (a, b) = (losses(&f32_run), losses(&bf16_run));
    // Same seed, same batches: the first epoch's mean loss differs only by the rounding of the
    // products' inputs (about 2^-9 relative per input), so by far less than 5 %, but not by 0.
    assert_ne!(a[0], b[0], "bf16 products left the loss bit-identical");
    assert!((a[0] - b[0]).abs() < 0.05 * a[0], "first-epoch loss f32 {} vs bf16 {}", a[0], b[0]);
    assert!(b.last().unwrap() < &(0.7 * b[0]), "bf16 phase-1 loss {b:?}");
}
