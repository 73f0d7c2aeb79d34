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
use super::summary::{
    classify_keys, group_trials, most_influential_key, study_cost, val_top1_by_value, KeyInfluence, StudyCost,
    TrialGroup,
};
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
    pub influential: Option<KeyInfluence>,
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
    if let Some(KeyInfluence { key, .. }) = &influential {
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

/// The markdown of `leaderboard.md` (pure): an introduction, the study's cost, the table, the
/// most influential key.
pub fn render_leaderboard(
    groups: &[TrialGroup],
    swept: &[String],
    fixed: &BTreeMap<String, Value>,
    runs: usize,
    influential: Option<&KeyInfluence>,
    plot: Option<&str>,
) -> String {
    let columns = Columns::of(groups);
    let mut s = String::new();
    let _ = writeln!(s, "# Sweep leaderboard\n");
    let _ = writeln!(s, "{}", introduction(runs, groups.len(), columns.baseline.is_some()));
    if !fixed.is_empty() {
        let f: Vec<String> = fixed.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        let _ = writeln!(s, "Same in every run: {}.\n", f.join(", "));
    }
    if let Some(line) = study_line(groups) {
        let _ = writeln!(s, "{line}");
    }
    let header = columns.header(swept);
    let _ = writeln!(s, "| {} |", header.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(header.len()));
    for (i, g) in groups.iter().enumerate() {
        let _ = writeln!(s, "| {} |", columns.row(i, g, swept).join(" | "));
    }
    if let Some(KeyInfluence { key, spread }) = influential {
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

/// The paragraph under the title; the Δ columns are explained only when the table has them.
fn introduction(runs: usize, trials: usize, has_delta: bool) -> String {
    let mut s = format!(
        "{runs} runs of {trials} trials, ranked by mean val top-1 over seeds (± sample standard \
         deviation). Test top-1 is shown for the top {TEST_SHOWN_FOR_TOP} only: choose on val, \
         read test once."
    );
    if has_delta {
        s.push_str(
            " Δ columns: the paired per-seed difference to `baseline` (same seeds) with its 95 % \
             confidence interval (Student's t); none for pruned trials, whose value is from an \
             earlier epoch than the reference's.",
        );
    }
    s.push('\n');
    s
}

/// The study's cost line, for `[search]` studies with a `[prune]` rule.
fn study_line(groups: &[TrialGroup]) -> Option<String> {
    let StudyCost { spent, unpruned } = study_cost(groups)?;
    let pruned = groups.iter().filter(|g| g.pruned.is_some()).count();
    // The references run outside the study (no rungs): they are not among its trials.
    let searched = groups.iter().filter(|g| g.epochs_used.is_some()).count();
    let share = 100.0 * spent as f64 / unpruned.max(1) as f64;
    Some(format!(
        "Study: {pruned} of {searched} searched trials pruned; {spent} trial-epochs (phase 1) spent against {unpruned} \
         unpruned ({share:.1} %). Pruned trials rank below every complete one; their val top-1 is the \
         value at the rung that stopped them, `epochs` the phase-1 epochs their runs trained.\n"
    ))
}

/// Which optional columns the table has.
struct Columns<'a> {
    /// More than one mode (a sweep with `reference` modes): a `mode` column.
    multi_mode: bool,
    /// Records from a `[search]` study: `rung` and `epochs` columns.
    study: bool,
    /// The `baseline` reference runs, for the paired Δ columns; a sweep of `baseline` itself has
    /// no reference row.
    baseline: Option<&'a TrialGroup>,
}

impl<'a> Columns<'a> {
    fn of(groups: &'a [TrialGroup]) -> Self {
        let multi_mode = groups.iter().any(|g| g.mode != groups[0].mode);
        let study = groups.iter().any(|g| g.epochs_used.is_some());
        let baseline = if multi_mode { groups.iter().find(|g| g.mode == "baseline") } else { None };
        Columns { multi_mode, study, baseline }
    }

    fn header(&self, swept: &[String]) -> Vec<String> {
        let mut header = vec!["rank".to_string()];
        if self.multi_mode {
            header.push("mode".into());
        }
        header.extend(swept.iter().cloned());
        header.extend(["seeds", "val top-1"].map(String::from));
        if self.study {
            header.extend(["rung", "epochs"].map(String::from));
        }
        header.extend(["val top-5", "test top-1", "s/run"].map(String::from));
        if self.baseline.is_some() {
            header.push("Δ val top-1 vs baseline [95% CI]".into());
            header.push("Δ test top-1 vs baseline".into());
        }
        header
    }

    /// The cells of the trial ranked `i + 1`. Pruned trials show `·` for every value that a
    /// finished run alone has (val top-5, test top-1, the paired Δ).
    fn row(&self, i: usize, g: &TrialGroup, swept: &[String]) -> Vec<String> {
        let pruned = g.pruned.is_some();
        let dot = || "·".to_string();
        let mut row = vec![(i + 1).to_string()];
        if self.multi_mode {
            row.push(g.mode.clone());
        }
        row.extend(swept.iter().map(|k| g.overrides.get(k).map(short).unwrap_or_else(|| "–".into())));
        row.push(g.seeds.len().to_string());
        row.push(mean_std(g.val_top1.mean, g.val_top1.std, g.seeds.len()));
        if self.study {
            row.push(match (g.pruned, g.rung) {
                (Some(p), _) => format!("pruned at {}", p.epoch),
                (None, Some(r)) => format!("passed {r}"),
                (None, None) => "–".into(),
            });
            row.push(g.epochs_used.map(|e| e.to_string()).unwrap_or_else(|| "–".into()));
        }
        row.push(if pruned { dot() } else { format!("{:.2}", g.val_top5.mean) });
        let test_shown = i < TEST_SHOWN_FOR_TOP && !pruned;
        row.push(if test_shown { mean_std(g.test_top1.mean, g.test_top1.std, g.seeds.len()) } else { dot() });
        row.push(format!("{:.1}", g.seconds));
        if let Some(b) = self.baseline {
            let same = std::ptr::eq(b, g);
            let delta = |x: &[(u64, f64)], y: &[(u64, f64)]| paired_diff(x, y).map(|d| d.label()).unwrap_or_default();
            row.push(if same {
                "–".into()
            } else if pruned {
                dot()
            } else {
                delta(&g.per_seed_val, &b.per_seed_val)
            });
            row.push(if same || !test_shown { dot() } else { delta(&g.per_seed_test, &b.per_seed_test) });
        }
        row
    }
}

/// A swept value as the leaderboard shows it: floats to 4 significant digits (results.csv keeps
/// the exact value), everything else as written.
fn short(v: &Value) -> String {
    match v {
        Value::Float(x) if *x != 0.0 && x.is_finite() => {
            let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
            let t = format!("{x:.digits$}");
            if t.contains('.') {
                t.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                t
            }
        }
        other => other.to_string(),
    }
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
    use super::{mean_std, short};
    use crate::sweep::value::Value;

    #[test]
    fn swept_floats_show_four_significant_digits() {
        // 0.08687836570424352 -> 0.08688 (4 significant digits, rounded half up at ...8365)
        assert_eq!(short(&Value::Float(0.08687836570424352)), "0.08688");
        assert_eq!(short(&Value::Float(0.00662901326992872)), "0.006629");
        assert_eq!(short(&Value::Float(0.5)), "0.5");
        assert_eq!(short(&Value::Float(1234.5678)), "1235");
        assert_eq!(short(&Value::Float(0.0)), "0");
        assert_eq!(short(&Value::Int(512)), "512");
        assert_eq!(short(&Value::Str("add".into())), "add");
    }

    use super::render_leaderboard;
    use crate::sweep::record::PrunedAt;
    use crate::sweep::summary::{MeanStd, TrialGroup};
    use std::collections::BTreeMap;

    fn group(mode: &str, trial: usize, val: [f64; 2], test: [f64; 2], pruned: bool) -> TrialGroup {
        let ms = |v: [f64; 2]| MeanStd::of(&v);
        let mut overrides = BTreeMap::new();
        if mode != "baseline" {
            overrides.insert("lr".to_string(), Value::Float(0.00662901326992872));
        }
        TrialGroup {
            mode: mode.into(),
            trial,
            overrides,
            seeds: vec![0, 1],
            val_top1: ms(val),
            val_top5: ms([99.0, 99.0]),
            test_top1: ms(test),
            test_top5: ms([99.0, 99.0]),
            seconds: 1.0,
            per_seed_val: vec![(0, val[0]), (1, val[1])],
            per_seed_test: vec![(0, test[0]), (1, test[1])],
            pruned: pruned.then_some(PrunedAt { epoch: 6, val_top1: val[0] }),
            rung: Some(6),
            epochs_used: Some(if pruned { 12 } else { 40 }),
            epochs_planned: Some(20),
        }
    }

    #[test]
    fn pruned_trials_show_no_test_and_no_paired_delta() {
        // render_leaderboard shows the groups in the order given (group_trials ranks them, pruned
        // trials last even where their rung value is the highest, as here).
        let groups = vec![
            group("baseline", 0, [70.0, 72.0], [71.0, 73.0], false),
            group("fusion", 1, [74.0, 74.0], [75.0, 72.0], false),
            group("fusion", 2, [80.0, 80.0], [0.0, 0.0], true),
        ];
        let md = render_leaderboard(&groups, &["lr".to_string()], &BTreeMap::new(), 6, None, None);
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        assert!(rows[0].contains("Δ val top-1 vs baseline"), "{md}");
        // Trial 1 vs baseline: per-seed val Δ = 4, 2 -> mean +3.00; test Δ = 4, -1 -> +1.50.
        assert!(
            rows[2].contains("| 0.006629 |") && rows[2].contains("+3.00") && rows[2].contains("+1.50"),
            "{}",
            rows[2]
        );
        // The pruned trial: val at its rung, then `·` for val top-5, test and both Δ.
        let cells: Vec<&str> = rows[3].trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells[cells.len() - 5..], ["·", "·", "1.0", "·", "·"], "{}", rows[3]);
        assert!(rows[3].contains("pruned at 6") && !rows[3].contains("-7"), "{}", rows[3]);
        assert!(md.contains("none for pruned trials"));
        // Without a baseline reference, no Δ columns and no word of them.
        let md = render_leaderboard(&groups[1..], &["lr".to_string()], &BTreeMap::new(), 4, None, None);
        assert!(!md.contains('Δ'), "{md}");
    }

    #[test]
    fn one_seed_shows_no_std() {
        assert_eq!(mean_std(28.571, 0.0, 1), "28.57");
        assert_eq!(mean_std(73.5, 0.714, 2), "73.50 ± 0.71");
    }
}
