//! Sweep engine (heads/src/sweep): expansion counts and order, reproducible random search,
//! resume, `--worker k/n` partition, up-front validation, and the sweep report. A stand-in
//! config and a deterministic fake trial function replace training.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Result};
use marnet_heads::sweep::{
    expand_runs, expand_trials, load_records, parse_sweep, prepare_runs, run_sweep, write_sweep_report, EngineOptions,
    SweepConfig, TrialMetrics, Value, Worker,
};

/// Stand-in for `HeadsConfig`: keys `a` (int ≥ 0), `b` (float), `c` (string), `lr` (float > 0),
/// `n` (int).
#[derive(Debug, Clone, Default)]
struct Fake {
    a: i64,
    b: f64,
    c: String,
    lr: f64,
    n: i64,
}

impl SweepConfig for Fake {
    fn apply_override(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "a" => self.a = value.parse()?,
            "b" => self.b = value.parse()?,
            "c" => self.c = value.to_string(),
            "lr" => self.lr = value.parse()?,
            "n" => self.n = value.parse()?,
            _ => bail!("unknown key `{key}`"),
        }
        Ok(())
    }
    fn validate(&self) -> Result<()> {
        if self.a < 0 {
            bail!("a must be ≥ 0, got {}", self.a);
        }
        Ok(())
    }
}

/// val top-1 = 50 + 10·a + 100·b + (c == "y") + seed; test top-1 = val − 1; top-5 = top-1 + 20.
fn fake_metrics(cfg: &Fake, seed: u64) -> TrialMetrics {
    let v = 50.0 + 10.0 * cfg.a as f64 + 100.0 * cfg.b + f64::from(u8::from(cfg.c == "y")) + seed as f64;
    TrialMetrics { val_top1: v, val_top5: v + 20.0, test_top1: v - 1.0, test_top5: v + 19.0 }
}

const GRID: &str = r#"
seeds = 2
[fixed]
lr = 0.001
[grid]
a = [1, 2]
b = [0.0, 0.01, 0.02]
c = ["x", "y"]
"#;

fn opts(jobs: usize, worker: Worker) -> EngineOptions {
    EngineOptions { jobs, worker, progress: false }
}

#[test]
fn grid_expands_to_the_cartesian_product_times_seeds() {
    let spec = parse_sweep(GRID, "grid.toml").unwrap();
    let trials = expand_trials(&spec);
    assert_eq!(trials.len(), 2 * 3 * 2);
    // Odometer over sorted keys a, b, c: c changes fastest, then b, then a.
    let show = |i: usize| trials[i].overrides.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    assert_eq!(show(0), "a=1,b=0,c=x,lr=0.001");
    assert_eq!(show(1), "a=1,b=0,c=y,lr=0.001");
    assert_eq!(show(2), "a=1,b=0.01,c=x,lr=0.001");
    assert_eq!(show(11), "a=2,b=0.02,c=y,lr=0.001");
    let runs = expand_runs(&spec, "fusion");
    assert_eq!(runs.len(), 24);
    assert_eq!((runs[5].trial, runs[5].seed, runs[5].index), (2, 1, 5));
    let hashes: BTreeSet<&str> = runs.iter().map(|r| r.hash.as_str()).collect();
    assert_eq!(hashes.len(), 24, "every run has its own hash");
    // The hash depends on content, not position: the same run in another mode differs, and the
    // same trial written in another order of keys is the same.
    let other = expand_runs(&spec, "baseline");
    assert_ne!(runs[0].hash, other[0].hash);
    let reordered = parse_sweep(
        "seeds = 2\n[grid]\nc = [\"x\", \"y\"]\nb = [0.0, 0.01, 0.02]\na = [1, 2]\n[fixed]\nlr = 0.001\n",
        "r",
    )
    .unwrap();
    assert_eq!(expand_runs(&reordered, "fusion")[0].hash, runs[0].hash);
}

const RANDOM: &str = r#"
[random]
trials = 200
seed = 11
lr = { min = 1e-4, max = 1e-2, scale = "log" }
n = { min = 1, max = 100 }
b = { min = 0.0, max = 1.0 }
c = { choices = ["x", "y", "z"] }
"#;

#[test]
fn random_search_is_reproducible_and_respects_bounds_and_scales() {
    let spec = parse_sweep(RANDOM, "random.toml").unwrap();
    let t1 = expand_trials(&spec);
    let t2 = expand_trials(&parse_sweep(RANDOM, "random.toml").unwrap());
    assert_eq!(t1, t2, "same seed, same trials");
    let t3 = expand_trials(&parse_sweep(&RANDOM.replace("seed = 11", "seed = 12"), "r").unwrap());
    assert_ne!(t1, t3, "another seed, other trials");
    assert_eq!(t1.len(), 200);

    let mut below_geometric_mid = 0;
    for t in &t1 {
        let Value::Float(lr) = t.overrides["lr"] else { panic!("lr must be a float") };
        assert!((1e-4..=1e-2).contains(&lr), "lr {lr} out of bounds");
        // Log-uniform: half the mass below the geometric midpoint sqrt(1e-4 * 1e-2) = 1e-3
        // (a linear scale would put only (1e-3 - 1e-4) / (1e-2 - 1e-4) = 9 % there).
        below_geometric_mid += usize::from(lr < 1e-3);
        let Value::Int(n) = t.overrides["n"] else { panic!("integer bounds must give integers") };
        assert!((1..=100).contains(&n));
        let Value::Float(b) = t.overrides["b"] else { panic!("float bounds must give floats") };
        assert!((0.0..=1.0).contains(&b));
        assert!(matches!(&t.overrides["c"], Value::Str(s) if ["x", "y", "z"].contains(&s.as_str())));
    }
    assert!((70..=130).contains(&below_geometric_mid), "{below_geometric_mid} of 200 below 1e-3");
    let cs: BTreeSet<String> = t1.iter().map(|t| t.overrides["c"].to_string()).collect();
    assert_eq!(cs.len(), 3, "200 draws reach every choice");
}

#[test]
fn grid_and_random_are_crossed() {
    let spec = parse_sweep("seeds = 3\n[grid]\na = [0, 1]\n[random]\ntrials = 4\nb = { min = 0.0, max = 1.0 }\n", "g")
        .unwrap();
    let trials = expand_trials(&spec);
    assert_eq!(trials.len(), 8);
    assert_eq!(expand_runs(&spec, "m").len(), 24);
    // The same 4 draws of b appear under a = 0 and a = 1.
    let b_of = |a: i64| {
        trials
            .iter()
            .filter(|t| t.overrides["a"] == Value::Int(a))
            .map(|t| t.overrides["b"].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(b_of(0), b_of(1));
}

#[test]
fn resume_runs_only_the_missing_trials() {
    let dir = tempfile::tempdir().unwrap();
    let spec = parse_sweep(GRID, "grid.toml").unwrap();
    // First pass "interrupted": every run with seed 1 fails, so only the 12 seed-0 runs finish.
    let first = run_sweep(&spec, &Fake::default(), "fusion", dir.path(), &opts(2, Worker::default()), |c: &Fake, s| {
        if s == 1 {
            bail!("interrupted")
        }
        Ok(fake_metrics(c, s))
    })
    .unwrap();
    assert_eq!((first.total_runs, first.ran, first.failures.len()), (24, 12, 12));
    assert!(first.failures[0].contains("interrupted"));
    // A half-written temporary file and a corrupt record do not count as finished.
    let trials = dir.path().join("trials");
    std::fs::write(trials.join(".junk.json.tmp-1-2-3"), b"{").unwrap();
    let runs = expand_runs(&spec, "fusion");
    std::fs::write(trials.join(format!("{}.json", runs[0].hash)), b"not json").unwrap();

    let calls = AtomicUsize::new(0);
    let seen = Mutex::new(BTreeSet::new());
    let second =
        run_sweep(&spec, &Fake::default(), "fusion", dir.path(), &opts(2, Worker::default()), |c: &Fake, s| {
            calls.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().insert((c.a, c.b.to_string(), c.c.clone(), s));
            Ok(fake_metrics(c, s))
        })
        .unwrap();
    // 12 seed-1 runs plus the corrupted run 0 (a=1, b=0, c=x, seed 0).
    assert_eq!(calls.load(Ordering::SeqCst), 13);
    assert_eq!((second.already_done, second.ran), (11, 13));
    assert!(seen.lock().unwrap().contains(&(1, "0".to_string(), "x".to_string(), 0)));
    assert_eq!(load_records(dir.path()).unwrap().len(), 24);

    let third = run_sweep(
        &spec,
        &Fake::default(),
        "fusion",
        dir.path(),
        &opts(1, Worker::default()),
        |_: &Fake, _| -> Result<TrialMetrics> { panic!("nothing is left to run") },
    )
    .unwrap();
    assert_eq!((third.already_done, third.ran), (24, 0));
}

#[test]
fn workers_0_of_2_and_1_of_2_cover_every_run_exactly_once() {
    let spec = parse_sweep(GRID, "grid.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut per_worker = Vec::new();
    for k in 0..2 {
        let seen = Mutex::new(Vec::new());
        let w: Worker = format!("{k}/2").parse().unwrap();
        let out = run_sweep(&spec, &Fake::default(), "fusion", dir.path(), &opts(2, w), |c: &Fake, s| {
            seen.lock().unwrap().push(format!("{}-{}-{}-{s}", c.a, c.b, c.c));
            Ok(fake_metrics(c, s))
        })
        .unwrap();
        assert_eq!(out.assigned, 12);
        per_worker.push(seen.into_inner().unwrap());
    }
    let a: BTreeSet<&String> = per_worker[0].iter().collect();
    let b: BTreeSet<&String> = per_worker[1].iter().collect();
    assert_eq!(a.len() + b.len(), 24);
    assert!(a.is_disjoint(&b));
    assert_eq!(a.union(&b).count(), 24);
    assert_eq!(load_records(dir.path()).unwrap().len(), 24);
}

#[test]
fn worker_syntax() {
    assert_eq!("1/3".parse::<Worker>().unwrap(), Worker { index: 1, count: 3 });
    for bad in ["3/3", "0/0", "1", "a/2", "-1/2"] {
        assert!(bad.parse::<Worker>().is_err(), "{bad} should be rejected");
    }
}

#[test]
fn an_invalid_key_or_value_fails_before_any_trial_runs() {
    let dir = tempfile::tempdir().unwrap();
    let calls = AtomicUsize::new(0);
    let count = |c: &Fake, s| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(fake_metrics(c, s))
    };
    // The unknown key sits in the *last* grid point only: the check must still come first.
    let spec = parse_sweep("[grid]\na = [1, 2]\n[random]\ntrials = 2\nzzz = { choices = [1] }\n", "bad.toml").unwrap();
    let err = run_sweep(&spec, &Fake::default(), "m", dir.path(), &opts(1, Worker::default()), count).unwrap_err();
    assert!(format!("{err:#}").contains("unknown key `zzz`"), "{err:#}");
    // A known key with a value that fails validation (a = -1, trial 1).
    let spec = parse_sweep("[grid]\na = [1, -1]\n", "bad.toml").unwrap();
    let err = run_sweep(&spec, &Fake::default(), "m", dir.path(), &opts(1, Worker::default()), count).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("sweep trial 1") && msg.contains("a must be ≥ 0"), "{msg}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(!dir.path().join("trials").exists());
}

#[test]
fn real_heads_config_rejects_unknown_keys_and_takes_known_ones() {
    let spec = parse_sweep("[grid]\nd = [64, 128]\nnot_a_key = [1]\n", "s.toml").unwrap();
    let err = prepare_runs(&spec, &marnet_heads::HeadsConfig::default(), "fusion").unwrap_err();
    assert!(format!("{err:#}").contains("not_a_key"), "{err:#}");
    let spec = parse_sweep("[grid]\nd = [64, 128]\n[fixed]\nlr = 0.01\n", "s.toml").unwrap();
    let runs = prepare_runs(&spec, &marnet_heads::HeadsConfig::default(), "fusion").unwrap();
    assert_eq!(runs.iter().map(|(_, c)| c.objective.d).collect::<Vec<_>>(), vec![64, 128]);
    assert!(runs.iter().all(|(_, c)| c.optim.lr == 0.01));
}

#[test]
fn sweep_file_errors_name_the_file_and_key() {
    let cases = [
        ("[gird]\na = [1]\n", "unknown top-level key `gird`"),
        ("[fixed]\na = 1\n[grid]\na = [1, 2]\n", "`a` is in both [fixed] and [grid]"),
        ("[grid]\na = []\n", "[grid] a: the list is empty"),
        ("[random]\ntrials = 2\nlr = { min = 0.0, max = 1.0, scale = \"log\" }\n", "log scale needs min > 0"),
        ("[random]\ntrials = 2\nlr = { min = 2.0, max = 1.0 }\n", "greater than max"),
        ("[random]\nlr = { min = 1.0, max = 2.0 }\n", "needs `trials = N`"),
        ("seeds = 0\n", "`seeds` must be an integer ≥ 1"),
        ("[grid]\na = [[1]]\n", "[grid] a: expected a boolean, number or string"),
    ];
    for (text, want) in cases {
        let err = parse_sweep(text, "my.toml").unwrap_err().to_string();
        assert!(err.starts_with("my.toml"), "{err}");
        assert!(err.contains(want), "`{text}` gave `{err}`, expected `{want}`");
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn sweep_report_merges_records_into_tables_leaderboard_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let spec = parse_sweep(GRID, "grid.toml").unwrap();
    for k in 0..2 {
        let w = Worker { index: k, count: 2 };
        run_sweep(&spec, &Fake::default(), "fusion", dir.path(), &opts(1, w), |c: &Fake, s| Ok(fake_metrics(c, s)))
            .unwrap();
    }
    let rep = write_sweep_report(dir.path()).unwrap();
    assert_eq!((rep.runs, rep.trials), (24, 12));
    // Best trial by hand: a=2, b=0.02, c=y: 50 + 20 + 2 + 1 = 73 (seed 0) and 74 (seed 1).
    let best = rep.best.unwrap();
    assert_eq!(best.overrides["a"], Value::Int(2));
    assert_eq!(best.overrides["c"], Value::Str("y".into()));
    assert_eq!(best.val_top1.mean, 73.5);
    assert!((best.val_top1.std - 0.5f64.sqrt()).abs() < 1e-12, "sample std of {{73, 74}}");
    // Spreads of the group means: a 10 points, b 2, c 1 -> a is the most influential.
    let marnet_heads::sweep::summary::KeyInfluence { key, spread } = rep.influential.clone().unwrap();
    assert_eq!(key, "a");
    assert!((spread - 10.0).abs() < 1e-9);

    let csv = read(&dir.path().join("results.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "mode,trial,seed,hash,a,b,c,lr,val_top1,val_top5,test_top1,test_top5,seconds");
    assert_eq!(lines.len(), 25);
    assert!(lines[1].starts_with("fusion,0,0,"));
    // Trial 0, seed 0: a=1, b=0, c=x: val top-1 = 50 + 10 = 60, val top-5 80, test 59 and 79.
    assert!(lines[1].contains(",1,0,x,0.001,60,80,59,79,"), "{}", lines[1]);

    let file = std::fs::File::open(dir.path().join("results.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<_> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 24);
    let schema = batches[0].schema();
    let types: BTreeMap<&str, String> =
        schema.fields().iter().map(|f| (f.name().as_str(), f.data_type().to_string())).collect();
    assert_eq!(types["a"], "Int64");
    assert_eq!(types["b"], "Float64");
    assert_eq!(types["c"], "Utf8");
    assert_eq!(types["val_top1"], "Float64");

    let md = read(&dir.path().join("leaderboard.md"));
    assert!(md.contains("| rank | a | b | c | seeds | val top-1 | val top-5 | test top-1 | s/run |"), "{md}");
    assert!(md.contains("| 1 | 2 | 0.02 | y | 2 | 73.50 ± 0.71 | 93.50 | 72.50 ± 0.71 |"), "{md}");
    assert!(md.contains("Same in every run: `lr=0.001`"), "{md}");
    let hidden = md.lines().filter(|l| l.starts_with("| ") && l.contains(" | · | ")).count();
    assert_eq!(hidden, 12 - 3, "test top-1 only for the top 3");
    assert!(md.contains("![val top-1 by a](val_top1_by_a.png)"));
    let img = image::open(dir.path().join("val_top1_by_a.png")).unwrap();
    assert_eq!((img.width(), img.height()), (900, 560));
}

#[test]
fn sweep_report_without_records_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(write_sweep_report(dir.path()).is_err());
    std::fs::create_dir_all(dir.path().join("trials")).unwrap();
    let err = write_sweep_report(dir.path()).unwrap_err().to_string();
    assert!(err.contains("no finished trial"), "{err}");
}

/// The sweep `just sweep` ships: it parses, every trial validates as a real `HeadsConfig`, and the
/// grid is 2 (fusion) x 2 (d) x 2 (timesteps) x 2 (gamma) = 16 runs of one seed each, all fusion.
#[test]
fn shipped_demo_sweep_is_valid_and_has_16_runs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sweeps/demo.toml");
    let spec = marnet_heads::sweep::load_sweep(&path).unwrap();
    let runs = prepare_runs(&spec, &marnet_heads::HeadsConfig::default(), "fusion").unwrap();
    assert_eq!(runs.len(), 16);
    let ds: BTreeSet<usize> = runs.iter().map(|(_, c)| c.objective.d).collect();
    assert_eq!(ds, BTreeSet::from([128, 256]));
    assert!(runs.iter().all(|(_, c)| c.phases.patience == 10 && c.budget.epochs == 50));
}
