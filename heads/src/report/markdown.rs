//! `report.md` of a training run (`marnet-heads train`): the ablation table in the layout of the
//! paper's table 2, the similarity of sampled to true x_s on val (DESIGN §2, "what we measured"),
//! the effective config, and the plots (curves, t-SNE of fig. 3, confidences of fig. 4).
//!
//! The input is plain data ([`ReportInput`]) so that this module depends on no training type;
//! [`write_report`] draws the plots itself and links them. A plot that cannot be drawn (e.g. too
//! few test samples for t-SNE) becomes a note in the report instead of an error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::files::write_atomic;
use super::paired::VsBaseline;
use super::{plots, tsne};

/// One row of the ablation table: one mode of paper table 2. Accuracies in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// `baseline`, `ema`, `mlp`, `cdr` or `fusion` (any other name is shown as is).
    pub mode: String,
    pub val_top1: f64,
    pub val_top5: f64,
    pub test_top1: f64,
    pub test_top5: f64,
    /// Standard deviation over seeds of the four accuracies (same order), when `seeds > 1`.
    pub std: Option<[f64; 4]>,
    /// Number of seeds averaged in this row (1 for a single run).
    pub seeds: usize,
    /// Paired per-seed difference to `baseline` of (val top-1, test top-1), points.
    pub vs_baseline: Option<VsBaseline>,
}

/// Similarity of generated to true standardised x_s on the val split.
#[derive(Debug, Clone, PartialEq)]
pub struct FidelityRow {
    /// What produced the features, e.g. "cdr (DDPM, T=50, K=1)" or "mlp".
    pub source: String,
    /// Mean cosine similarity per row, in [-1, 1].
    pub val_cosine: f64,
    /// Mean squared error per element.
    pub val_mse: f64,
}

/// Per-epoch history of one mode (epochs counted from 1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CurveSet {
    pub mode: String,
    /// `(epoch, mean training loss)`.
    pub train_loss: Vec<(usize, f64)>,
    /// `(epoch, val top-1 in percent)`.
    pub val_top1: Vec<(usize, f64)>,
}

/// Test-split features for the t-SNE figure; all rows, [`write_report`] picks the subset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TsneInput {
    /// x_v rows, row-major `(n, d_v)`.
    pub x_v: Vec<f32>,
    pub d_v: usize,
    /// x_CDR rows of the same samples, row-major `(n, d_cdr)`.
    pub x_cdr: Vec<f32>,
    pub d_cdr: usize,
    /// `n` class indices.
    pub labels: Vec<u32>,
}

/// Everything `report.md` shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportInput {
    /// Heading, e.g. the dataset name.
    pub title: String,
    pub rows: Vec<ReportRow>,
    /// The effective config as TOML text.
    pub config_toml: String,
    pub fidelity: Vec<FidelityRow>,
    pub curves: Vec<CurveSet>,
    pub tsne: Option<TsneInput>,
    /// Class names by index (legend of the t-SNE plot).
    pub class_names: Vec<String>,
    /// Top-1 softmax probability per test sample: `(baseline, cdr)`.
    pub confidence: Option<(Vec<f32>, Vec<f32>)>,
    /// Extra lines shown under "Notes".
    pub notes: Vec<String>,
    /// Modes that failed: `(mode, one-line reason)`.
    pub failed: Vec<(String, String)>,
    /// Further markdown sections (each starting with its `##` heading), shown after the
    /// ablation table, e.g. the Table 1 layout of `--mode table1`.
    pub sections: Vec<String>,
}

/// Classes and samples per class in the t-SNE figure (paper fig. 3: 5 classes).
pub const TSNE_CLASSES: usize = 5;
/// At most this many test samples per class in the t-SNE figure.
pub const TSNE_PER_CLASS: usize = 100;

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOutput {
    pub report: PathBuf,
    /// The PNG files drawn, in the order they are linked.
    pub plots: Vec<PathBuf>,
    /// Plots that were skipped, with the reason (also listed in the report).
    pub skipped: Vec<String>,
}

/// Writes `dir/report.md` and its plots `dir/{loss,val_top1,tsne,confidence}.png`.
///
/// # Errors
/// `dir` cannot be created or `report.md` cannot be written. Plot failures are not errors: they
/// are listed in [`ReportOutput::skipped`] and in the report.
pub fn write_report(dir: &Path, input: &ReportInput) -> Result<ReportOutput> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut plots_done: Vec<(String, &str)> = Vec::new();
    let mut skipped = Vec::new();
    let mut attempt = |caption: &str, file: &'static str, r: Result<()>| match r {
        Ok(()) => plots_done.push((caption.to_string(), file)),
        Err(e) => skipped.push(format!("{caption} ({file}) not drawn: {e:#}")),
    };

    if !input.curves.is_empty() {
        let loss: Vec<(String, Vec<(usize, f64)>)> =
            input.curves.iter().map(|c| (c.mode.clone(), c.train_loss.clone())).collect();
        let r = plots::plot_curves(&dir.join("loss.png"), "Training loss", &loss, "loss");
        attempt("Training loss per epoch", "loss.png", r);
        let acc: Vec<(String, Vec<(usize, f64)>)> =
            input.curves.iter().map(|c| (c.mode.clone(), c.val_top1.clone())).collect();
        let r = plots::plot_curves(&dir.join("val_top1.png"), "Val top-1", &acc, "val top-1 (%)");
        attempt("Val top-1 per epoch", "val_top1.png", r);
    }
    if let Some(t) = &input.tsne {
        let r = draw_tsne(&dir.join("tsne.png"), t, &input.class_names);
        attempt("t-SNE of x_v and x_CDR on test (paper fig. 3)", "tsne.png", r);
    }
    if let Some((base, cdr)) = &input.confidence {
        let r = plots::plot_confidence_hist(&dir.join("confidence.png"), base, cdr);
        attempt("Top-1 confidence, baseline vs CDR (paper fig. 4)", "confidence.png", r);
    }

    let md = render_markdown(input, &plots_done, &skipped);
    let report = dir.join("report.md");
    write_atomic(&report, md.as_bytes())?;
    Ok(ReportOutput { report, plots: plots_done.iter().map(|(_, f)| dir.join(f)).collect(), skipped })
}

/// Runs t-SNE on up to [`TSNE_CLASSES`] × [`TSNE_PER_CLASS`] test rows of x_v and x_CDR (seed 0)
/// and draws the pair.
fn draw_tsne(path: &Path, t: &TsneInput, class_names: &[String]) -> Result<()> {
    let n = t.labels.len();
    anyhow::ensure!(
        t.d_v > 0 && t.d_cdr > 0 && t.x_v.len() == n * t.d_v && t.x_cdr.len() == n * t.d_cdr,
        "t-SNE input shapes disagree: {} labels, x_v {} values of width {}, x_CDR {} of width {}",
        n,
        t.x_v.len(),
        t.d_v,
        t.x_cdr.len(),
        t.d_cdr
    );
    let idx = tsne::select_subset(&t.labels, TSNE_CLASSES, TSNE_PER_CLASS);
    let gather =
        |x: &[f32], d: usize| -> Vec<f32> { idx.iter().flat_map(|&i| x[i * d..(i + 1) * d].iter().copied()).collect() };
    let opts = tsne::TsneOptions::default();
    let left = tsne::tsne_2d(&gather(&t.x_v, t.d_v), t.d_v, &opts)?;
    let right = tsne::tsne_2d(&gather(&t.x_cdr, t.d_cdr), t.d_cdr, &opts)?;
    let labels: Vec<u32> = idx.iter().map(|&i| t.labels[i]).collect();
    plots::plot_tsne_pair(path, &left, &right, &labels, class_names)
}

/// Which modules of the paper feed the classifier in `mode` (columns "EMA" and "CDR").
fn components(mode: &str) -> (&'static str, &'static str, &'static str) {
    match mode {
        "probe" => ("", "", "linear probe on x_v (L-BFGS, L2 on val)"),
        "baseline" => ("", "", "linear classifier on x_v"),
        "ema" => ("✓", "", "EMA: ITA + CE on x_v'"),
        "mlp" => ("", "MLP", "MLP regression of x_s, no diffusion"),
        "cdr" => ("", "✓", "classifier on x_CDR alone"),
        "fusion" => ("✓", "✓", "EMA + CDR fused (full model)"),
        "swd" => ("", "", "table 1: CE + sliced Wasserstein of classifier outputs"),
        "ssan" => ("", "", "table 1: CE + class-centroid alignment"),
        "cdd" => ("", "", "table 1: CE + contrastive domain discrepancy"),
        "sdm" => ("", "", "table 1: CE + similarity distribution matching"),
        "distill" => ("", "", "image student of a text teacher (generalized distillation)"),
        _ => ("", "", ""),
    }
}

fn fmt_acc(mean: f64, std: Option<f64>) -> String {
    match std {
        Some(s) => format!("{mean:.2} ± {s:.2}"),
        None => format!("{mean:.2}"),
    }
}

/// The markdown text of the report (pure; `plots` are `(caption, file)` links).
pub fn render_markdown(input: &ReportInput, plots: &[(String, &str)], skipped: &[String]) -> String {
    let mut s = String::new();
    let title = if input.title.is_empty() { "marnet heads" } else { &input.title };
    let _ = writeln!(s, "# MARNet heads report: {title}\n");
    let _ = writeln!(s, "Written by marnet-heads {}.\n", env!("CARGO_PKG_VERSION"));

    let _ = writeln!(s, "## Ablation (layout of paper table 2)\n");
    let _ = writeln!(
        s,
        "Top-1 / top-5 accuracy in percent (mean ± sample std over seeds). Model selection uses \
         val; test is reported once per selected model. Δ = the paired per-seed difference of top-1 \
         to `baseline` (same seeds), with its 95 % confidence interval (Student's t) from 2 seeds on.\n"
    );
    let _ = writeln!(s, "| mode | EMA | CDR | what | seeds | val top-1 | val top-5 | test top-1 | test top-5 | Δ val top-1 | Δ test top-1 |");
    let _ = writeln!(s, "|---|:-:|:-:|---|--:|--:|--:|--:|--:|--:|--:|");
    for r in &input.rows {
        let (ema, cdr, what) = components(&r.mode);
        let sd = |i: usize| r.std.map(|s| s[i]);
        let (dv, dt) = r.vs_baseline.map(|d| (d.val.label(), d.test.label())).unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {ema} | {cdr} | {what} | {} | {} | {} | {} | {} | {dv} | {dt} |",
            r.mode,
            r.seeds,
            fmt_acc(r.val_top1, sd(0)),
            fmt_acc(r.val_top5, sd(1)),
            fmt_acc(r.test_top1, sd(2)),
            fmt_acc(r.test_top5, sd(3)),
        );
    }
    for (mode, reason) in &input.failed {
        let _ = writeln!(s, "| {mode} | | | **failed**: {reason} | | | | | | | |");
    }
    if input.rows.is_empty() && input.failed.is_empty() {
        let _ = writeln!(s, "\n(no mode was trained)");
    }

    for section in &input.sections {
        let _ = writeln!(s, "\n{}", section.trim_end());
    }

    if !input.fidelity.is_empty() {
        let _ = writeln!(s, "\n## Generated vs true text feature x_s (val)\n");
        let _ = writeln!(
            s,
            "Both in the standardised x_s space (train mean and std). Cosine 1 and MSE 0 would \
             be a perfect reconstruction; MSE 1 is what predicting the mean gives.\n"
        );
        let _ = writeln!(s, "| source | mean cosine | MSE |\n|---|--:|--:|");
        for f in &input.fidelity {
            let _ = writeln!(s, "| {} | {:.4} | {:.4} |", f.source, f.val_cosine, f.val_mse);
        }
    }

    if !plots.is_empty() {
        let _ = writeln!(s, "\n## Plots\n");
        for (caption, file) in plots {
            let _ = writeln!(s, "**{caption}**\n\n![{caption}]({file})\n");
        }
    }

    if !input.notes.is_empty() || !skipped.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in input.notes.iter().chain(skipped) {
            let _ = writeln!(s, "- {n}");
        }
    }

    let _ = writeln!(s, "\n## Config\n\n```toml\n{}\n```", input.config_toml.trim_end());
    s
}
