//! The Table 1 modes through the library API: the same seed gives the same scores (SWD's random
//! directions come from the seeded RNG), another seed other scores, and every mode's
//! probabilities are distributions.

mod common;

use marnet_heads::{train_mode, Mode};

#[test]
fn table1_modes_are_deterministic_per_seed() {
    let f = common::synthetic_features(5, 20, 8, 4);
    let mut cfg = common::small_config();
    cfg.budget.epochs = 3;
    cfg.align.swd_projections = 8;
    for mode in [Mode::Swd, Mode::Ssan, Mode::Cdd, Mode::Sdm, Mode::Distill] {
        let a = train_mode(&f, &cfg, mode, 0).unwrap();
        let b = train_mode(&f, &cfg, mode, 0).unwrap();
        let c = train_mode(&f, &cfg, mode, 1).unwrap();
        assert_eq!(a.test_scores, b.test_scores, "{mode}: same seed");
        assert_ne!(a.test_scores, c.test_scores, "{mode}: another seed");
        for row in a.test_scores.chunks(5) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{mode}: row sums to {sum}");
        }
        assert_eq!(a.mode, mode);
    }
}
