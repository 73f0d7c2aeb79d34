//! `[search]` studies (heads/src/sweep/study.rs and friends): TPE through the `optimizer` crate,
//! ASHA rung arithmetic and the median rule by hand, pruned records and the leaderboard, resume
//! after an interruption, `--jobs 1` determinism, and several threads claiming from one journal.
//! A stand-in config and a fake trial whose val curve is known replace training.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Result};
use marnet_heads::sweep::journal::Event;
use marnet_heads::sweep::prune::{asha_promotes, asha_rungs, check, median, Check};
use marnet_heads::sweep::sampler::{propose, propose_distinct, Finished};
use marnet_heads::sweep::{
    load_records, parse_sweep, run_study, write_sweep_report, EngineOptions, Journal, PruneSpec, SweepConfig,
    TrialMetrics, TrialRecord, Value, Worker,
};
use marnet_heads::train::hook::{Control, EpochHook, EpochReport, Stopped};

/// Stand-in config: `x` (float), `k` (int), `c` (string), `epochs`.
#[derive(Debug, Clone)]
struct Fake {
    x: f64,
    k: i64,
    c: String,
    epochs: usize,
}

impl Default for Fake {
    fn default() -> Self {
        Self { x: 0.5, k: 1, c: "a".into(), epochs: 9 }
    }
}

impl SweepConfig for Fake {
    fn apply_override(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "x" => self.x = value.parse()?,
            "k" => self.k = value.parse()?,
            "c" => self.c = value.to_string(),
            "epochs" => self.epochs = value.parse()?,
            _ => bail!("unknown key `{key}`"),
        }
        Ok(())
    }
    fn validate(&self) -> Result<()> {
        if self.k < 0 {
            bail!("k must be ≥ 0");
        }
        Ok(())
    }
}

/// Final val top-1 of a fake trial: 90 − 50·|x − 0.7| + k + (c == "b") + seed/10.
fn quality(cfg: &Fake, seed: u64) -> f64 {
    90.0 - 50.0 * (cfg.x - 0.7).abs() + cfg.k as f64 + f64::from(u8::from(cfg.c == "b")) + seed as f64 / 10.0
}

/// Val top-1 after epoch e of E: quality · e / E. Reports each epoch to the hook like the trainer.
fn fake_trial(cfg: &Fake, seed: u64, hook: Option<EpochHook>) -> Result<TrialMetrics> {
    let q = quality(cfg, seed);
    for epoch in 1..=cfg.epochs {
        let at =
            EpochReport { phase: 1, epoch, planned_epochs: cfg.epochs, val_top1: q * epoch as f64 / cfg.epochs as f64 };
        if let Some(h) = &hook {
            if h.report(&at) == Control::Stop {
                return Err(Stopped { at }.into());
            }
        }
    }
    Ok(TrialMetrics { val_top1: q, val_top5: q + 5.0, test_top1: q - 1.0, test_top5: q + 4.0 })
}

fn opts(jobs: usize) -> EngineOptions {
    EngineOptions { jobs, worker: Worker { index: 0, count: 1 }, progress: false }
}

const STUDY: &str = r#"
seeds = 1
[fixed]
epochs = 9
[search]
sampler = "tpe"
trials = 14
seed = 7
startup_trials = 4
x = { min = 0.0, max = 1.0 }
k = { min = 0, max = 3 }
c = { choices = ["a", "b"] }
[prune]
rule = "asha"
min_epochs = 1
reduction_factor = 3
"#;

#[test]
fn asha_rungs_and_promotion_by_hand() {
    // min_epochs · η^k below the planned epochs: 1, 3, 9 (27 is not below 27).
    assert_eq!(asha_rungs(1, 3, 27), vec![1, 3, 9]);
    assert_eq!(asha_rungs(2, 3, 50), vec![2, 6, 18]);
    assert_eq!(asha_rungs(1, 2, 9), vec![1, 2, 4, 8]);
    assert_eq!(asha_rungs(5, 3, 5), Vec::<usize>::new());
    // First at a rung: n = 1, keep max(1, 1/3) = 1: itself.
    assert!(asha_promotes(10.0, &[], 3));
    // n = 4 (three others + itself), keep max(1, ⌊4/3⌋) = 1: only the best (50) goes on.
    assert!(!asha_promotes(35.0, &[50.0, 40.0, 30.0], 3));
    assert!(asha_promotes(55.0, &[50.0, 40.0, 30.0], 3));
    // n = 6, keep ⌊6/3⌋ = 2: with 45 the top two are 50 and 45, so it goes on; with 39 they
    // are 50 and 40, so it stops; a tie with the second (40) goes on.
    assert!(asha_promotes(45.0, &[10.0, 20.0, 30.0, 40.0, 50.0], 3));
    assert!(!asha_promotes(39.0, &[10.0, 20.0, 30.0, 40.0, 50.0], 3));
    assert!(asha_promotes(40.0, &[10.0, 20.0, 30.0, 40.0, 50.0], 3));
    // η = 2, n = 4: keep 2 of {1, 2, 3, 4}: 3 goes on, 2 does not.
    assert!(asha_promotes(3.0, &[1.0, 2.0, 4.0], 2));
    assert!(!asha_promotes(2.0, &[1.0, 3.0, 4.0], 2));
    let rule = PruneSpec::Asha { min_epochs: 1, reduction_factor: 3 };
    // Epoch 2 of 9 is not a rung (rungs 1, 3); the last epoch never is.
    assert_eq!(check(&rule, 2, 9, 0.0, &[99.0]), Check::NotARung);
    assert_eq!(check(&rule, 9, 9, 0.0, &[99.0]), Check::NotARung);
    assert_eq!(check(&rule, 3, 9, 20.0, &[99.0, 1.0, 2.0]), Check::Prune);
    assert_eq!(check(&rule, 3, 9, 99.5, &[99.0, 1.0, 2.0]), Check::Continue);
}

#[test]
fn median_rule_by_hand() {
    assert_eq!(median(&[1.0, 3.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    assert_eq!(median(&[]), None);
    let rule = PruneSpec::Median { warmup_epochs: 2 };
    // Before the warmup nothing is compared.
    assert_eq!(check(&rule, 1, 10, 0.0, &[50.0]), Check::NotARung);
    // Median of {1, 2, 3, 4} is 2.5: 2.4 is below it, 2.5 is not.
    assert_eq!(check(&rule, 2, 10, 2.4, &[1.0, 2.0, 3.0, 4.0]), Check::Prune);
    assert_eq!(check(&rule, 2, 10, 2.5, &[1.0, 2.0, 3.0, 4.0]), Check::Continue);
    // Nobody else reached the epoch yet: go on.
    assert_eq!(check(&rule, 5, 10, 0.0, &[]), Check::Continue);
}

#[test]
fn search_and_prune_sections_parse_and_reject_bad_input() {
    let spec = parse_sweep(STUDY, "s.toml").unwrap();
    let s = spec.search.as_ref().unwrap();
    assert_eq!((s.trials, s.seed, s.startup_trials, s.params.len()), (14, 7, 4, 3));
    assert_eq!(spec.prune, Some(PruneSpec::Asha { min_epochs: 1, reduction_factor: 3 }));
    let defaults =
        parse_sweep("[search]\ntrials = 2\nx = { min = 0.0, max = 1.0 }\n[prune]\nrule = \"asha\"\n", "d").unwrap();
    assert_eq!(defaults.prune, Some(PruneSpec::Asha { min_epochs: 1, reduction_factor: 3 }));
    for (bad, needle) in [
        ("[search]\ntrials = 2\nsampler = \"cmaes\"\nx = { min = 0.0, max = 1.0 }", "expected \"tpe\" or \"random\""),
        ("[search]\nx = { min = 0.0, max = 1.0 }", "needs `trials = N`"),
        ("[search]\ntrials = 2\nx = { min = 0.0, max = 1.0 }\n[grid]\nk = [1]", "cannot be combined"),
        ("[grid]\nk = [1]\n[prune]\nrule = \"asha\"", "[prune] needs [search]"),
        (
            "[search]\ntrials = 2\nx = { min = 0.0, max = 1.0 }\n[prune]\nrule = \"asha\"\nwarmup_epochs = 2",
            "warmup_epochs",
        ),
        ("[search]\ntrials = 2\nx = { min = 0.0, max = 1.0 }\n[prune]\nrule = \"asha\"\nreduction_factor = 1", "≥ 2"),
    ] {
        let e = format!("{:#}", parse_sweep(bad, "bad.toml").unwrap_err());
        assert!(e.contains("bad.toml") && e.contains(needle), "{bad}: {e}");
    }
}

/// The proposal is the crate's: `TpeSampler` built with the same seed (key index 0: the seed
/// itself), asked for the same trial id with a history of this key only, gives the same value.
#[test]
fn tpe_proposals_are_the_optimizer_crates() {
    use optimizer::distribution::{Distribution as D, FloatDistribution};
    use optimizer::param::ParamValue;
    use optimizer::parameter::ParamId;
    use optimizer::sampler::tpe::TpeSampler;
    use optimizer::sampler::{CompletedTrial, Sampler};

    let spec = parse_sweep("[search]\ntrials = 30\nseed = 3\nstartup_trials = 5\nx = { min = 0.0, max = 1.0 }\n", "t")
        .unwrap();
    let search = spec.search.unwrap();
    // 12 finished trials at x = 0.04·i + 0.02, objective |x − 0.8| (lower is better).
    let xs: Vec<f64> = (0..12).map(|i| 0.08 * i as f64 + 0.02).collect();
    let history: Vec<Finished> = xs
        .iter()
        .map(|&x| Finished { params: BTreeMap::from([("x".to_string(), Value::Float(x))]), objective: (x - 0.8).abs() })
        .collect();
    let ours = propose(&search, 12, &history).unwrap();

    let dist = D::Float(FloatDistribution { low: 0.0, high: 1.0, log_scale: false, step: None });
    let id = ParamId::new();
    let crate_history: Vec<CompletedTrial> = xs
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let params = HashMap::from([(id, ParamValue::Float(x))]);
            CompletedTrial::new(i as u64, params, HashMap::from([(id, dist.clone())]), HashMap::new(), (x - 0.8).abs())
        })
        .collect();
    let tpe = TpeSampler::builder().n_startup_trials(5).seed(3).build().unwrap();
    let ParamValue::Float(expected) = tpe.sample(&dist, 12, &crate_history) else { panic!("not a float") };
    assert_eq!(ours["x"], Value::Float(expected));
    // And TPE learns: over 20 proposals after this history the mean distance to the optimum
    // 0.8 is smaller than the uniform draws' expected 0.34 (E|U − 0.8| = (0.8² + 0.2²)/2).
    let dist_to_opt: f64 =
        (12..32).map(|t| (propose(&search, t, &history).unwrap()["x"].as_f64().unwrap() - 0.8).abs()).sum::<f64>()
            / 20.0;
    assert!(dist_to_opt < 0.2, "mean |x − 0.8| = {dist_to_opt}");
}

#[test]
fn random_search_stays_in_the_space() {
    let text =
        "[search]\nsampler = \"random\"\ntrials = 40\nseed = 1\nlr = { min = 1e-4, max = 1e-2, scale = \"log\" }\n\
                k = { min = 2, max = 5 }\nc = { choices = [\"a\", \"b\", \"z\"] }\n";
    let search = parse_sweep(text, "r").unwrap().search.unwrap();
    let draws: Vec<BTreeMap<String, Value>> = (0..40).map(|t| propose(&search, t, &[]).unwrap()).collect();
    for d in &draws {
        let lr = d["lr"].as_f64().unwrap();
        assert!((1e-4..=1e-2).contains(&lr), "{lr}");
        assert!(matches!(d["k"], Value::Int(2..=5)), "{:?}", d["k"]);
        assert!(["a", "b", "z"].contains(&d["c"].to_string().as_str()));
    }
    // Log scale: about half of the draws fall below the geometric midpoint 1e-3.
    let below = draws.iter().filter(|d| d["lr"].as_f64().unwrap() < 1e-3).count();
    assert!((10..=30).contains(&below), "{below} of 40 below 1e-3");
    assert_eq!(draws[3], propose(&search, 3, &[]).unwrap(), "a draw depends only on (seed, trial)");
}

/// Replays ASHA on the recorded curves, in trial order (`--jobs 1`): at each rung a run must
/// have gone on exactly when its value is in the top max(1, ⌊n/3⌋) of the values of the earlier
/// trials that reached that rung plus its own.
#[test]
fn pruned_runs_are_recorded_follow_asha_and_never_win() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = parse_sweep(STUDY, "s.toml").unwrap();
    let o = run_study(&spec, &Fake::default(), "fusion", tmp.path(), &opts(1), fake_trial).unwrap();
    assert_eq!((o.ran, o.already_done, o.failures.len()), (14, 0, 0));
    let mut records = load_records(tmp.path()).unwrap();
    records.sort_by_key(|r| r.trial);
    assert_eq!(records.len(), 14);
    let mut at_rung: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in &records {
        let stopped = replay_asha(&mut at_rung, r, &[1, 3]);
        match stopped {
            Some(rung) => {
                let p = r.pruned.expect("pruned record");
                assert_eq!((p.epoch, r.rung, r.epochs_used, r.curve.len()), (rung, Some(rung), Some(rung), rung));
                assert_eq!(r.metrics.val_top1, p.val_top1);
                assert_eq!(r.metrics.test_top1, 0.0, "not measured");
            }
            None => {
                assert!(r.pruned.is_none(), "trial {} should have gone on", r.trial);
                assert_eq!((r.epochs_used, r.rung), (Some(9), Some(3)));
            }
        }
        assert_eq!(r.epochs_planned, Some(9));
    }
    let pruned = records.iter().filter(|r| r.is_pruned()).count();
    assert!(pruned >= 5, "only {pruned} of 14 pruned");
    let report = write_sweep_report(tmp.path()).unwrap();
    assert!(report.best.as_ref().unwrap().pruned.is_none(), "a pruned trial must not win");
    let board = std::fs::read_to_string(tmp.path().join("leaderboard.md")).unwrap();
    let spent: usize = records.iter().map(|r| r.epochs_used.unwrap()).sum();
    assert!(
        board.contains(&format!(
            "{pruned} of 14 searched trials pruned; {spent} trial-epochs (phase 1) spent against 126"
        )),
        "{board}"
    );
    assert!(board.contains("| rank | c | k | x | seeds | val top-1 | rung | epochs |"), "{board}");
    assert!(board.contains("pruned at 1") && tmp.path().join("val_top1_curves.png").exists());
    // Pruned rows have no test metrics in the table.
    let csv = std::fs::read_to_string(tmp.path().join("results.csv")).unwrap();
    let pruned_row = csv.lines().find(|l| l.contains(",pruned,")).unwrap();
    assert!(pruned_row.contains(",,"), "{pruned_row}");
}

/// ASHA by hand on one run's recorded curve, in trial order: at each rung the run goes on when
/// its value is in the top max(1, ⌊n/3⌋) of the values recorded there so far, its own included.
/// Returns the rung that stopped it.
fn replay_asha(at_rung: &mut BTreeMap<usize, Vec<f64>>, r: &TrialRecord, rungs: &[usize]) -> Option<usize> {
    for &rung in rungs {
        if r.curve.len() < rung {
            return None;
        }
        let v = r.curve[rung - 1].val_top1;
        let vals = at_rung.entry(rung).or_default();
        vals.push(v);
        let mut sorted = vals.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let keep = (sorted.len() / 3).max(1);
        if v < sorted[keep - 1] {
            return Some(rung);
        }
    }
    None
}

/// With two seeds the first one screens: seed 0 runs follow ASHA among themselves, a trial pruned
/// there has no seed-1 run, a trial that passed has its seed-1 run complete (never pruned), and
/// only seed 0 reports rung values.
#[test]
fn the_first_seed_screens_and_passed_trials_finish_every_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = parse_sweep(&STUDY.replace("seeds = 1", "seeds = 2"), "s.toml").unwrap();
    run_study(&spec, &Fake::default(), "fusion", tmp.path(), &opts(1), fake_trial).unwrap();
    let mut records = load_records(tmp.path()).unwrap();
    records.sort_by_key(|r| (r.trial, r.seed));
    let mut at_rung: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    let mut pruned_trials = 0;
    for trial in 0..14 {
        let runs: Vec<&TrialRecord> = records.iter().filter(|r| r.trial == trial).collect();
        assert_eq!(runs[0].seed, 0);
        match replay_asha(&mut at_rung, runs[0], &[1, 3]) {
            Some(rung) => {
                pruned_trials += 1;
                assert_eq!((runs.len(), runs[0].pruned.map(|p| p.epoch)), (1, Some(rung)), "trial {trial}");
            }
            None => {
                assert_eq!(runs.len(), 2, "trial {trial}: both seeds");
                assert!(runs.iter().all(|r| r.pruned.is_none() && r.epochs_used == Some(9)), "trial {trial}");
                assert_eq!(runs[1].rung, None, "seed 1 is never compared at a rung");
            }
        }
    }
    assert!((5..14).contains(&pruned_trials), "{pruned_trials} of 14 pruned");
    let seed1_reports = Journal::new(tmp.path())
        .read()
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e, Event::Report { seed: 1, .. }))
        .count();
    assert_eq!(seed1_reports, 0);
}

fn journal_trials(out: &Path) -> Vec<(usize, String)> {
    Journal::new(out)
        .read()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::Trial { trial, params, .. } => Some((trial, format!("{params:?}"))),
            _ => None,
        })
        .collect()
}

fn outcome_of(out: &Path) -> Vec<(usize, String, bool, f64)> {
    let mut v: Vec<_> = load_records(out)
        .unwrap()
        .into_iter()
        .map(|r| (r.trial, format!("{:?}", r.overrides), r.is_pruned(), r.metrics.val_top1))
        .collect();
    v.sort_by_key(|x| x.0);
    v
}

/// Simulates a worker killed while training trial 6: the journal of a finished study is cut
/// just before trial 6's `done` line, with half a line after it (the write the kill cut short);
/// trial 6 keeps only its seed-0 record and later trials none.
#[test]
fn an_interrupted_study_resumes_to_the_same_result_as_an_uninterrupted_one() {
    let spec = parse_sweep(&STUDY.replace("seeds = 1", "seeds = 2"), "s.toml").unwrap();
    let whole = tempfile::tempdir().unwrap();
    run_study(&spec, &Fake::default(), "fusion", whole.path(), &opts(1), fake_trial).unwrap();

    let part = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(whole.path().join("journal.jsonl")).unwrap();
    let cut = text.find("{\"event\":\"done\",\"trial\":6,").expect("trial 6 finished");
    let cut_text = format!("{}{}", &text[..cut], "{\"event\":\"trial\",\"tri");
    std::fs::write(part.path().join("journal.jsonl"), cut_text).unwrap();
    std::fs::create_dir_all(part.path().join("trials")).unwrap();
    let mut kept = 0;
    for r in load_records(whole.path()).unwrap() {
        if r.trial < 6 || (r.trial == 6 && r.seed == 0) {
            let name = format!("{}.json", r.hash);
            std::fs::copy(whole.path().join("trials").join(&name), part.path().join("trials").join(&name)).unwrap();
            kept += 1;
        }
    }

    let trained = Mutex::new(Vec::new());
    let counting = |cfg: &Fake, seed: u64, hook: Option<EpochHook>| {
        trained.lock().unwrap().push((format!("{cfg:?}"), seed));
        fake_trial(cfg, seed, hook)
    };
    let o = run_study(&spec, &Fake::default(), "fusion", part.path(), &opts(1), counting).unwrap();
    assert!(o.failures.is_empty(), "{:?}", o.failures);
    let total = load_records(part.path()).unwrap().len();
    assert_eq!(trained.lock().unwrap().len(), total - kept, "nothing recorded is trained again");
    assert_eq!(load_records(whole.path()).unwrap().len(), total);

    // Same trials, same values, same pruning as the uninterrupted study (deterministic at --jobs 1).
    assert_eq!(outcome_of(part.path()), outcome_of(whole.path()));
    assert_eq!(journal_trials(part.path()), journal_trials(whole.path()));
    // And a third invocation has nothing left to do.
    let o = run_study(&spec, &Fake::default(), "fusion", part.path(), &opts(1), fake_trial).unwrap();
    assert_eq!((o.ran, o.assigned), (0, 0));
}

#[test]
fn a_failed_trial_is_not_marked_done_and_is_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = parse_sweep(&STUDY.replace("trials = 14", "trials = 3"), "s.toml").unwrap();
    let calls = Mutex::new(0);
    let fail_first = |cfg: &Fake, seed: u64, hook: Option<EpochHook>| {
        let first = std::mem::replace(&mut *calls.lock().unwrap(), 1) == 0;
        if first {
            bail!("loss became NaN");
        }
        fake_trial(cfg, seed, hook)
    };
    let o = run_study(&spec, &Fake::default(), "fusion", tmp.path(), &opts(1), fail_first).unwrap();
    assert_eq!(o.failures.len(), 1, "{:?}", o.failures);
    assert!(o.failures[0].contains("trial 0") && o.failures[0].contains("NaN"), "{:?}", o.failures);
    assert_eq!(load_records(tmp.path()).unwrap().len(), 2);
    let o = run_study(&spec, &Fake::default(), "fusion", tmp.path(), &opts(1), fake_trial).unwrap();
    assert_eq!((o.ran, o.failures.len()), (1, 0));
    assert_eq!(load_records(tmp.path()).unwrap().iter().map(|r| r.trial).collect::<Vec<_>>(), vec![0, 1, 2]);
}

#[test]
fn concurrent_threads_never_train_a_trial_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = parse_sweep(&STUDY.replace("trials = 14", "trials = 24"), "s.toml").unwrap();
    let seen = Mutex::new(Vec::new());
    let logging = |cfg: &Fake, seed: u64, hook: Option<EpochHook>| {
        seen.lock().unwrap().push((format!("{cfg:?}"), seed));
        fake_trial(cfg, seed, hook)
    };
    let o = run_study(&spec, &Fake::default(), "fusion", tmp.path(), &opts(4), logging).unwrap();
    assert_eq!((o.ran, o.failures.len()), (24, 0));
    let trials = journal_trials(tmp.path());
    let numbers: Vec<usize> = trials.iter().map(|t| t.0).collect();
    assert_eq!(numbers, (0..24).collect::<Vec<_>>(), "each number proposed once, in order");
    let done: Vec<usize> = Journal::new(tmp.path())
        .read()
        .unwrap()
        .into_iter()
        .filter_map(|e| if let Event::Done { trial, .. } = e { Some(trial) } else { None })
        .collect();
    let mut sorted = done.clone();
    sorted.sort();
    assert_eq!(sorted, (0..24).collect::<Vec<_>>(), "each trial finished once");
    assert_eq!(seen.lock().unwrap().len(), 24);
}

/// The repeat seen in the demo study (heads/sweeps/demo-tpe-asha.toml, 2 jobs): its journal up to
/// the proposal of trial 15 (trial and done events, a fixture), from which TPE's first draw is
/// exactly trial 10's values (`d` 512, dropout 0 and lr 0.01 at their bounds, concat, T 100), so
/// the study trained 19 distinct trials of 20. `propose_distinct` draws again and gets values
/// of no earlier trial, inside the space.
#[test]
fn a_tpe_repeat_of_an_earlier_trial_is_drawn_again() {
    use marnet_heads::sweep::journal::parse_events;
    use marnet_heads::sweep::study_state::StudyState;
    let sweep = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps/demo-tpe-asha.toml");
    let spec = parse_sweep(&std::fs::read_to_string(&sweep).unwrap(), "demo-tpe-asha.toml").unwrap();
    let search = spec.search.unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo_study_journal_before_trial15.jsonl");
    let st = StudyState::from_events(&parse_events(&std::fs::read_to_string(&fixture).unwrap(), &fixture).unwrap());
    assert_eq!(st.trials.len(), 15);
    let first = propose(&search, 15, &st.finished()).unwrap();
    assert_eq!(first, st.trials[&10], "the fixture reproduces the repeat");
    let taken: Vec<&BTreeMap<String, Value>> = st.trials.values().collect();
    let again = propose_distinct(&search, 15, &st.finished(), &taken).unwrap();
    assert!(!taken.contains(&&again), "still a repeat: {again:?}");
    let lr = again["lr"].as_f64().unwrap();
    assert!((1e-4..=1e-2).contains(&lr) && (0.0..=0.5).contains(&again["dropout"].as_f64().unwrap()), "{again:?}");
}

/// With the random sampler on a 3-point space: a repeat is drawn again, and when every point is
/// taken the last draw (a repeat) is returned instead of an error or an endless loop.
#[test]
fn distinct_proposals_on_a_small_space() {
    let search =
        parse_sweep("[search]\nsampler = \"random\"\ntrials = 9\nseed = 2\nc = { choices = [1, 2, 3] }\n", "s")
            .unwrap()
            .search
            .unwrap();
    let p0 = propose(&search, 4, &[]).unwrap();
    let p1 = propose_distinct(&search, 4, &[], &[&p0]).unwrap();
    assert_ne!(p1, p0);
    let all: Vec<BTreeMap<String, Value>> =
        [1, 2, 3].iter().map(|&c| BTreeMap::from([("c".to_string(), Value::Int(c))])).collect();
    let full = propose_distinct(&search, 4, &[], &all.iter().collect::<Vec<_>>()).unwrap();
    assert!(all.contains(&full), "{full:?}");
}
