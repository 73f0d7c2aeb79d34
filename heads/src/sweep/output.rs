//! `marnet-heads sweep-report`: merges every record under `OUT/trials/` (from any number of
//! workers) into `results.parquet` and `results.csv` (one row per run: mode, trial, seed, hash,
//! every override key, val/test top-1/top-5, seconds), `leaderboard.md` (trials ranked by mean
//! val top-1 over seeds; pruned trials last) and `val_top1_by_<key>.png` for the most
//! influential swept key; for `[search]` studies also `state`, `rung` and `epochs_used`
//! columns and `val_top1_curves.png` ([`super::plot`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::record::load_records;
use super::summary::{classify_keys, group_trials, most_influential_key, study_cost, val_top1_by_value, TrialGroup};
use super::table::{results_table, write_csv, write_parquet};
use super::value::Value;
use crate::report::paired::paired_diff;

/// Rows of the leaderboard that show test top-1 (the rest show only val: select on val).
pub const TEST_SHOWN_FOR_TOP: usize = 3;

/// What [`write_sweep_report`] found and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    pub runs: usize,
    pub trials: usize,
    /// Best trial by mean val top-1.
    pub best: Option<TrialGroup>,
    /// `(key, spread)` of the most influential swept key, when one varies.
    pub influential: Option<(String, f64)>,
    pub files: Vec<PathBuf>,
}

/// Merges `out/trials/*.json` and writes the report files into `out`.
///
/// # Errors
/// No record, an invalid record file, or an output file that cannot be written.
pub fn write_sweep_report(out: &Path) -> Result<SweepReport> {
    let records = load_records(out)?;
    if records.is_empty() {
        bail!("{}: no finished trial yet (nothing in trials/)", out.display());
    }
    let table = results_table(&records);
    let mut files = vec![out.join("results.csv"), out.join("results.parquet")];
    write_csv(&files[0], &table, records.len())?;
    write_parquet(&files[1], &table)?;

    let groups = group_trials(&records);
    let (swept, fixed) = classify_keys(&records);
    let influential = most_influential_key(&records, &swept);
    let mut plot = None;
    if let Some((key, _)) = &influential {
        let safe: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        let file = format!("val_top1_by_{safe}.png");
        let by_value = val_top1_by_value(&records, key);
        crate::report::plots::plot_metric_by_key(&out.join(&file), key, &by_value, "val top-1 (%)")?;
        files.push(out.join(&file));
        plot = Some(file);
    }
    let mut md = render_leaderboard(&groups, &swept, &fixed, records.len(), influential.as_ref(), plot.as_deref());
    if records.iter().any(|r| !r.curve.is_empty()) {
        let file = "val_top1_curves.png";
        super::plot::plot_trial_curves(&out.join(file), &records)?;
        files.push(out.join(file));
        let _ = writeln!(md, "\n![val top-1 of every run against its epochs; pruned runs end in a cross]({file})");
    }
    let board = out.join("leaderboard.md");
    crate::report::write_atomic(&board, md.as_bytes())?;
    files.push(board);
    Ok(SweepReport { runs: records.len(), trials: groups.len(), best: groups.first().cloned(), influential, files })
}

/// The markdown of `leaderboard.md` (pure).
pub fn render_leaderboard(
    groups: &[TrialGroup],
    swept: &[String],
    fixed: &BTreeMap<String, Value>,
    runs: usize,
    influential: Option<&(String, f64)>,
    plot: Option<&str>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Sweep leaderboard\n");
    let _ = writeln!(
        s,
        "{runs} runs of {} trials, ranked by mean val top-1 over seeds (± sample standard \
         deviation). Test top-1 is shown for the top {TEST_SHOWN_FOR_TOP} only: choose on val, \
         read test once. Δ columns: the paired per-seed difference to `baseline` (same seeds) \
         with its 95 % confidence interval (Student's t).\n",
        groups.len()
    );
    if !fixed.is_empty() {
        let f: Vec<String> = fixed.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        let _ = writeln!(s, "Same in every run: {}.\n", f.join(", "));
    }
    if let Some((spent, unpruned)) = study_cost(groups) {
        let pruned = groups.iter().filter(|g| g.pruned.is_some()).count();
        let share = 100.0 * spent as f64 / unpruned.max(1) as f64;
        let _ = writeln!(
            s,
            "Study: {pruned} of {} trials pruned; {spent} trial-epochs (phase 1) spent against {unpruned} \
             unpruned ({share:.1} %). Pruned trials rank below every complete one; their val top-1 is the \
             value at the rung that stopped them, `epochs` the phase-1 epochs their runs trained.\n",
            groups.len()
        );
    }
    let multi_mode = groups.iter().any(|g| g.mode != groups[0].mode);
    let mut header = vec!["rank".to_string()];
    if multi_mode {
        header.push("mode".into());
    }
    header.extend(swept.iter().cloned());
    let study = groups.iter().any(|g| g.epochs_used.is_some());
    header.extend(["seeds", "val top-1"].map(String::from));
    if study {
        header.extend(["rung", "epochs"].map(String::from));
    }
    header.extend(["val top-5", "test top-1", "s/run"].map(String::from));
    // Paired per-seed differences to the `baseline` runs of a `reference` (a sweep of another
    // mode that also ran `baseline`); a sweep of `baseline` itself has no reference row.
    let baseline = if multi_mode { groups.iter().find(|g| g.mode == "baseline") } else { None };
    if baseline.is_some() {
        header.push("Δ val top-1 vs baseline [95% CI]".into());
        header.push("Δ test top-1 vs baseline".into());
    }
    let _ = writeln!(s, "| {} |", header.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(header.len()));
    for (i, g) in groups.iter().enumerate() {
        let mut row = vec![(i + 1).to_string()];
        if multi_mode {
            row.push(g.mode.clone());
        }
        row.extend(swept.iter().map(|k| g.overrides.get(k).map(|v| v.to_string()).unwrap_or_else(|| "–".into())));
        row.push(g.seeds.len().to_string());
        row.push(mean_std(g.val_top1.mean, g.val_top1.std, g.seeds.len()));
        if study {
            row.push(match (g.pruned, g.rung) {
                (Some(p), _) => format!("pruned at {}", p.epoch),
                (None, Some(r)) => format!("passed {r}"),
                (None, None) => "–".into(),
            });
            row.push(g.epochs_used.map(|e| e.to_string()).unwrap_or_else(|| "–".into()));
        }
        row.push(if g.pruned.is_some() { "·".into() } else { format!("{:.2}", g.val_top5.mean) });
        row.push(if i < TEST_SHOWN_FOR_TOP && g.pruned.is_none() {
            mean_std(g.test_top1.mean, g.test_top1.std, g.seeds.len())
        } else {
            "·".into()
        });
        row.push(format!("{:.1}", g.seconds));
        if let Some(b) = baseline {
            let same = std::ptr::eq(b, g);
            row.push(if same {
                "–".into()
            } else {
                paired_diff(&g.per_seed_val, &b.per_seed_val).map(|d| d.label()).unwrap_or_default()
            });
            row.push(if same || i >= TEST_SHOWN_FOR_TOP {
                "·".into()
            } else {
                paired_diff(&g.per_seed_test, &b.per_seed_test).map(|d| d.label()).unwrap_or_default()
            });
        }
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    if let Some((key, spread)) = influential {
        let _ = writeln!(
            s,
            "\nMost influential key: `{key}` (the mean val top-1 of its values spans {spread:.2} \
             points).\n"
        );
        if let Some(p) = plot {
            let _ = writeln!(s, "![val top-1 by {key}]({p})");
        }
    }
    s
}

/// `mean ± std` with two decimals; a single seed has no sample std, so only the mean is shown.
fn mean_std(mean: f64, std: f64, seeds: usize) -> String {
    if seeds < 2 {
        format!("{mean:.2}")
    } else {
        format!("{mean:.2} ± {std:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::mean_std;

    #[test]
    fn one_seed_shows_no_std() {
        assert_eq!(mean_std(28.571, 0.0, 1), "28.57");
        assert_eq!(mean_std(73.5, 0.714, 2), "73.50 ± 0.71");
    }
}
