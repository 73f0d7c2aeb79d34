//! Maps trained results ([`ModeRuns`] of [`crate::train::ModeResult`]) to the report's plain-data
//! input ([`ReportInput`]): the only place where the report reads training types, so that
//! [`super::markdown`] stays plain data (used by `train` and `finetune`).

use super::markdown::{CurveSet, FidelityRow, ReportInput, ReportRow, TsneInput};
use super::run_output::{vs_baseline, ModeFailure, ModeRuns, SeedSummary};
use crate::model::config::HeadsConfig;
use crate::train::features::Features;
use crate::train::{Mode, ModeResult};
use anyhow::Result;

/// Maps the results to the report's plain-data input.
pub fn report_input(
    title: &str,
    results: &[ModeRuns],
    failed: &[ModeFailure],
    f: &Features,
    cfg: &HeadsConfig,
) -> Result<ReportInput> {
    Ok(ReportInput {
        title: title.to_string(),
        rows: report_rows(results),
        config_toml: cfg.to_toml_string()?,
        fidelity: fidelity_rows(results, cfg),
        curves: curve_sets(results),
        tsne: tsne_input(results, f),
        class_names: f.class_names.clone(),
        confidence: confidence(results),
        notes: notes(results, f, cfg),
        failed: failed.iter().map(|x| (x.mode.as_str().to_string(), x.reason.clone())).collect(),
        sections: Vec::new(),
    })
}

/// One table row per mode: means over seeds, the std with several seeds, the paired
/// difference to `baseline`.
fn report_rows(results: &[ModeRuns]) -> Vec<ReportRow> {
    results
        .iter()
        .map(|mr| {
            let SeedSummary { mean: m, std: s } = mr.summary();
            ReportRow {
                mode: mr.mode.as_str().to_string(),
                val_top1: m[0],
                val_top5: m[1],
                test_top1: m[2],
                test_top5: m[3],
                std: (mr.runs.len() > 1).then_some(s),
                seeds: mr.runs.len(),
                vs_baseline: vs_baseline(mr, results),
            }
        })
        .collect()
}

/// Generation quality (sampled vs true `x_s` on val) of the modes that generate, first seed.
fn fidelity_rows(results: &[ModeRuns], cfg: &HeadsConfig) -> Vec<FidelityRow> {
    let sampler = format!(
        "{} {}, T={}, K={}",
        cfg.sampling.sampler, cfg.diffusion.schedule, cfg.diffusion.timesteps, cfg.sampling.samples
    );
    results
        .iter()
        .filter_map(|mr| {
            mr.runs[0].generation.as_ref().map(|g| FidelityRow {
                source: if mr.mode == Mode::Mlp { "mlp".into() } else { format!("{} ({sampler})", mr.mode) },
                val_cosine: g.val_cosine,
                val_mse: g.val_mse,
            })
        })
        .collect()
}

/// Train loss and val top-1 per epoch of every mode that has a history, first seed.
fn curve_sets(results: &[ModeRuns]) -> Vec<CurveSet> {
    results
        .iter()
        .filter(|mr| !mr.runs[0].history.is_empty())
        .map(|mr| {
            let h = &mr.runs[0].history;
            CurveSet {
                mode: mr.mode.as_str().to_string(),
                train_loss: h.iter().enumerate().map(|(i, e)| (i + 1, e.train_loss)).collect(),
                val_top1: h.iter().enumerate().map(|(i, e)| (i + 1, e.val_top1)).collect(),
            }
        })
        .collect()
}

/// The first seed of `mode` in `results`.
fn first_run(results: &[ModeRuns], mode: Mode) -> Option<&ModeResult> {
    results.iter().find(|r| r.mode == mode).map(|r| &r.runs[0])
}

/// Test embeddings for the t-SNE pair (paper fig. 3) of the first of `fusion`, `cdr`, `mlp`
/// that ran.
fn tsne_input(results: &[ModeRuns], f: &Features) -> Option<TsneInput> {
    let test_labels = f.labels_of(&f.test);
    [Mode::Fusion, Mode::Cdr, Mode::Mlp].into_iter().find_map(|m| first_run(results, m)).and_then(|r| {
        r.embeddings.as_ref().map(|e| TsneInput {
            x_v: e.x_v.clone(),
            d_v: e.d_v,
            x_cdr: e.x_cdr.clone(),
            d_cdr: e.d,
            labels: test_labels.clone(),
        })
    })
}

/// Top-1 test probabilities of `baseline` and of `cdr` (else `fusion`) for the confidence
/// histogram (paper fig. 4), when both ran.
fn confidence(results: &[ModeRuns]) -> Option<(Vec<f32>, Vec<f32>)> {
    let top_prob = |r: &ModeResult| -> Vec<f32> {
        r.test_scores.chunks(r.num_classes).map(|row| row.iter().copied().fold(f32::MIN, f32::max)).collect()
    };
    let pick = |m: Mode| first_run(results, m);
    match (pick(Mode::Baseline), pick(Mode::Cdr).or(pick(Mode::Fusion))) {
        (Some(b), Some(c)) => Some((top_prob(b), top_prob(c))),
        _ => None,
    }
}

/// Notes under the report: a carved val split, each mode's training time and chosen probe λ.
fn notes(results: &[ModeRuns], f: &Features, cfg: &HeadsConfig) -> Vec<String> {
    let mut notes = Vec::new();
    if f.val_carved {
        notes.push(format!(
            "The cache has no val split: {} % of train (stratified) was held out for validation.",
            cfg.run.val_fraction * 100.0
        ));
    }
    for mr in results {
        notes.push(format!("{}: {:.1} s training (seed {}).", mr.mode, mr.runs[0].seconds, mr.runs[0].seed));
        if let Some(l2) = mr.runs[0].probe_l2 {
            notes
                .push(format!("{}: L2 strength λ = {l2} chosen on val top-1 among {:?}.", mr.mode, cfg.probe.probe_l2));
        }
    }
    notes
}
