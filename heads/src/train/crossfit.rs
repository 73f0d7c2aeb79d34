//! Cross-fitted phase 2 (config key `crossfit_folds` = k >= 2): the phase-2
//! head otherwise trains on `x_CDR`/`x_EMA` of rows that phase 1 fitted, which are cleaner than the
//! features of unseen test rows, and overfits within a few epochs. With cross-fitting, k more
//! phase-1 models are trained, each without one fold of the train rows with text (seeded,
//! stratified by class), and each train row's phase-2 features come from the model that did not
//! see it (out-of-fold), like stacking. Only `x̂_s^0` is cross-fitted: it lives in the
//! standardised `x_s` space that all the models share, and goes through the main model's `E_s`
//! (each model's EMA projections are its own space; mixing them made the phase-2 classifier
//! collapse to ~20 % val top-1 on the demo). `x_EMA` and the val and test rows keep the features
//! of the phase-1 model trained on all train rows. Costs k + 1 phase-1 trainings.

use super::features::Features;
use super::result::{Mode, RunOptions};
use super::rng_streams as streams;
use super::two_phase::Phase1Model;
use crate::model::config::HeadsConfig;
use crate::nn::rng::HostRng;
use anyhow::Result;
use candle_core::Tensor;

/// `x_CDR` (n, d) of every row with the train rows with text replaced by their out-of-fold
/// features: k = `crossfit_folds` more phase-1 models, each trained without one fold, give the
/// rows of that fold `g(E_s x̂_s^0)` through `model`'s (the main phase-1 model's) `E_s`.
pub(super) fn out_of_fold_x_cdr(
    model: &Phase1Model,
    f: &Features,
    cfg: &HeadsConfig,
    mode: Mode,
    seed: u64,
    mut x_cdr_all: Tensor,
) -> Result<Tensor> {
    let label = mode.as_str();
    let folds = stratified_folds(&f.train_text, &f.labels, cfg.phases.crossfit_folds, seed);
    for (j, fold) in folds.iter().enumerate().filter(|(_, fold)| !fold.is_empty()) {
        let rest: Vec<u32> = f.train_text.iter().copied().filter(|r| fold.binary_search(r).is_err()).collect();
        if rest.is_empty() {
            continue;
        }
        let offset = streams::fold_offset(j);
        let fold_model = Phase1Model::new(f, cfg, mode, &mut HostRng::new(seed, streams::INIT + offset))?;
        let quiet = RunOptions::default();
        fold_model.train(f, cfg, seed, &rest, offset, &quiet, &format!("{label} fold {}/{}", j + 1, folds.len()))?;
        // Only x̂_s^0 is taken from the fold model: it lives in the standardised x_s space
        // that every model shares, while each model's EMA projections are its own. So the
        // out-of-fold x̂_s^0 goes through the main model's E_s, like every other row's.
        let x0_fold = fold_model.features(f, cfg, seed, Some(fold))?.x0_hat;
        let x_cdr = model.ema.embed_s(&x0_fold)?.detach();
        x_cdr_all = overwrite_rows(&x_cdr_all, fold, &x_cdr)?;
    }
    Ok(x_cdr_all)
}

/// Splits `rows` into `k` folds, stratified by class: each class's rows are shuffled (seeded)
/// and dealt round-robin, continuing where the previous class stopped so fold sizes differ by
/// at most one.
pub fn stratified_folds(rows: &[u32], labels: &[u32], k: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut by_class: std::collections::BTreeMap<u32, Vec<u32>> = std::collections::BTreeMap::new();
    for &r in rows {
        by_class.entry(labels[r as usize]).or_default().push(r);
    }
    let mut rng = HostRng::new(seed, streams::FOLDS);
    let mut folds = vec![Vec::new(); k];
    let mut next = 0usize;
    for (_, mut members) in by_class {
        rng.shuffle(&mut members);
        for r in members {
            folds[next % k].push(r);
            next += 1;
        }
    }
    for fold in &mut folds {
        fold.sort_unstable();
    }
    folds
}

/// Replaces the rows `rows` of `all` (n, d) by `part` (rows, d).
fn overwrite_rows(all: &Tensor, rows: &[u32], part: &Tensor) -> Result<Tensor> {
    let (n, d) = all.dims2()?;
    let mut host = all.flatten_all()?.to_vec1::<f32>()?;
    let part = part.flatten_all()?.to_vec1::<f32>()?;
    for (i, &r) in rows.iter().enumerate() {
        host[r as usize * d..(r as usize + 1) * d].copy_from_slice(&part[i * d..(i + 1) * d]);
    }
    Ok(Tensor::from_vec(host, (n, d), all.device())?)
}

#[cfg(test)]
mod tests {
    use super::stratified_folds;

    #[test]
    fn folds_are_stratified_and_cover_every_row_once() {
        // 6 rows of class 0 and 4 of class 1 dealt round-robin into 3 folds: class 0 gives 2 rows
        // to each fold; class 1 continues at fold 0 (6 mod 3): folds 0, 1, 2, 0 get 2, 1, 1.
        let rows: Vec<u32> = (0..10).collect();
        let labels = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
        let folds = stratified_folds(&rows, &labels, 3, 7);
        let per_class = |f: &Vec<u32>, c: u32| f.iter().filter(|&&r| labels[r as usize] == c).count();
        assert_eq!(
            folds.iter().map(|f| (per_class(f, 0), per_class(f, 1))).collect::<Vec<_>>(),
            vec![(2, 2), (2, 1), (2, 1)]
        );
        let mut all: Vec<u32> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, rows);
        // Seeded: the same seed deals the same folds, another seed another order.
        assert_eq!(stratified_folds(&rows, &labels, 3, 7), folds);
    }
}
