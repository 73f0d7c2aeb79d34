//! HeadsConfig: defaults of DESIGN §2, `--set` parsing, validation naming the key.

mod common;

use marnet_heads::model::config::{FusionKind, SamplerKind, ScheduleKind};
use marnet_heads::HeadsConfig;

/// The defaults with `change` applied.
fn with(change: impl FnOnce(&mut HeadsConfig)) -> HeadsConfig {
    let mut c = HeadsConfig::default();
    change(&mut c);
    c
}

fn err(cfg: &HeadsConfig) -> String {
    format!("{:#}", cfg.validate().unwrap_err())
}

#[test]
fn defaults_are_the_design_values_and_valid() {
    let c = HeadsConfig::default();
    assert_eq!(
        (
            c.objective.d,
            c.diffusion.timesteps,
            c.denoiser.hidden,
            c.denoiser.temb_dim,
            c.budget.batch,
            c.budget.epochs,
            c.budget.phase2_epochs
        ),
        (512, 50, 1024, 128, 256, 50, 50)
    );
    assert_eq!((c.optim.lr, c.optim.weight_decay, c.objective.tau_init, c.budget.warmup), (1e-3, 1e-4, 0.07, 0.05));
    assert_eq!(c.diffusion.schedule, ScheduleKind::Cosine);
    assert_eq!(c.sampling.fusion, FusionKind::Concat);
    c.validate().unwrap();
}

#[test]
fn set_overrides_parse_numbers_strings_and_quoted_strings() {
    let mut c = HeadsConfig::default();
    c.apply_override("lr", "3e-4").unwrap();
    c.apply_override("epochs", "5").unwrap();
    c.apply_override("fusion", "hm").unwrap();
    c.apply_override("sampler", "\"ddim\"").unwrap();
    c.apply_override("guidance", "1").unwrap(); // integer literal into a float key
    assert_eq!(c.optim.lr, 3e-4);
    assert_eq!(c.budget.epochs, 5);
    assert_eq!(c.sampling.fusion, FusionKind::Hm);
    assert_eq!(c.sampling.sampler, SamplerKind::Ddim);
    assert_eq!(c.sampling.guidance, 1.0);
}

#[test]
fn unknown_key_and_bad_values_are_rejected_naming_the_key() {
    let mut c = HeadsConfig::default();
    let e = format!("{:#}", c.apply_override("lrr", "1").unwrap_err());
    assert!(e.contains("lrr") && e.contains("valid keys") && e.contains("phase2_epochs"), "{e}");
    let e = format!("{:#}", c.apply_override("fusion", "bogus").unwrap_err());
    assert!(e.contains("fusion"), "{e}");
    let e = format!("{:#}", c.apply_override("epochs", "abc").unwrap_err());
    assert!(e.contains("epochs"), "{e}");
    assert_eq!(c, HeadsConfig::default(), "a failed override must not change the config");
}

#[test]
fn invalid_values_fail_validation_naming_the_key() {
    assert!(err(&with(|c| c.diffusion.beta_start = 0.0)).contains("beta_start"));
    assert!(err(&with(|c| c.diffusion.beta_end = 1.0)).contains("beta_end"));
    let e = err(&with(|c| (c.diffusion.beta_start, c.diffusion.beta_end) = (0.03, 0.02)));
    assert!(e.contains("beta_start") && e.contains("beta_end"), "{e}");
    assert!(err(&with(|c| c.diffusion.timesteps = 0)).contains("timesteps"));
    assert!(err(&with(|c| c.optim.lr = -1.0)).contains("`lr`"));
    assert!(
        err(&with(|c| (c.sampling.ddim_steps, c.sampling.sampler) = (60, SamplerKind::Ddim))).contains("ddim_steps")
    );
    // Linear β 1e-4..0.02 over T = 50: ᾱ_T ≈ exp(-Σβ) = exp(-50·0.01005) ≈ 0.60 > 0.05.
    let e = err(&with(|c| c.diffusion.schedule = ScheduleKind::Linear));
    assert!(e.contains("alphas_cumprod") && e.contains("pure noise") && e.contains("timesteps"), "{e}");
    // With T = 1000 the linear schedule ends at ᾱ_T ≈ 4e-5 and is accepted.
    with(|c| (c.diffusion.schedule, c.diffusion.timesteps) = (ScheduleKind::Linear, 1000)).validate().unwrap();
}

#[test]
fn toml_round_trip_and_file_errors_name_the_file() {
    let c = with(|c| (c.sampling.fusion, c.optim.lr) = (FusionKind::Sum, 5e-4));
    let text = c.to_toml_string().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, &text).unwrap();
    assert_eq!(HeadsConfig::from_toml_file(&p).unwrap(), c);
    std::fs::write(&p, "lr = 1e-3\nwat = 3\n").unwrap();
    let e = format!("{:#}", HeadsConfig::from_toml_file(&p).unwrap_err());
    assert!(e.contains("c.toml") && e.contains("wat"), "{e}");
    assert!(HeadsConfig::keys().contains(&"fusion_features"));
}

#[test]
fn a_wrong_type_in_a_file_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, "lr = 1e-3\nepochs = \"many\"\n").unwrap();
    let e = format!("{:#}", HeadsConfig::from_toml_file(&p).unwrap_err());
    assert!(e.contains("c.toml") && e.contains("`epochs`"), "{e}");
    // A key of the Table 1 group is a top-level key like every other.
    std::fs::write(&p, "swd_weight = 0.25\nsamples = 3\n").unwrap();
    let c = HeadsConfig::from_toml_file(&p).unwrap();
    assert_eq!((c.align.swd_weight, c.sampling.samples), (0.25, 3));
}

/// Keys of the first column of the `## Config keys` table in docs/training.md.
fn documented_keys() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/training.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let section = text.split("\n## Config keys\n").nth(1).expect("a `## Config keys` section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(k, _)| k.to_string())
        .collect()
}

#[test]
fn the_docs_key_table_lists_exactly_the_config_keys() {
    let mut documented = documented_keys();
    let n_rows = documented.len();
    documented.sort();
    documented.dedup();
    assert_eq!(documented.len(), n_rows, "a key is listed twice in docs/training.md");
    let mut derived: Vec<String> = HeadsConfig::keys().into_iter().map(String::from).collect();
    derived.sort();
    // A key of every group, so that a group whose names the derivation missed fails here
    // (the docs table would otherwise just have to drop the same rows).
    for key in ["d", "timesteps", "hidden", "fusion", "lr", "batch", "patience", "probe_l2", "seed", "swd_weight"] {
        assert!(derived.iter().any(|k| k == key), "HeadsConfig::keys() lacks `{key}`");
    }
    assert_eq!(documented, derived, "docs/training.md `## Config keys` vs HeadsConfig::keys()");
}

/// `config.toml` as the flat, ungrouped `HeadsConfig` wrote it (a run folder of 2026-12-07 with
/// `d`, `fusion`, `epochs`, `probe_l2` and `swd_weight` edited by hand).
const FLAT_CONFIG: &str = include_str!("fixtures/flat_config.toml");

/// `precision = "bf16"` parses and round-trips; an f32 config does not mention the key; where
/// the CPU lacks AVX-512 BF16, training refuses bf16 before the first step, naming the flag.
#[test]
fn precision_key_round_trips_and_bf16_is_refused_without_avx512_bf16() {
    use marnet_heads::nn::precision::{Precision, ALLOW_PORTABLE_ENV};
    let mut c = HeadsConfig::default();
    assert!(!c.to_toml_string().unwrap().contains("precision"));
    c.apply_override("precision", "bf16").unwrap();
    assert_eq!(c.run.precision, Precision::Bf16);
    let text = c.to_toml_string().unwrap();
    assert!(text.contains("precision = \"bf16\""), "{text}");
    let e = format!("{:#}", HeadsConfig::default().apply_override("precision", "fp8").unwrap_err());
    assert!(e.contains("precision"), "{e}");
    if !marnet_extract::kernels::has_avx512_bf16() && std::env::var(ALLOW_PORTABLE_ENV).is_err() {
        let f = common::synthetic_features(3, 10, 4, 2);
        let err = marnet_heads::train_mode(&f, &c, marnet_heads::Mode::Baseline, 0).map(|_| ()).unwrap_err();
        assert!(format!("{err:#}").contains("avx512_bf16"), "{err:#}");
    }
}

#[test]
fn a_config_toml_written_before_the_grouping_loads_and_is_written_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.toml");
    std::fs::write(&p, FLAT_CONFIG).unwrap();
    let c = HeadsConfig::from_toml_file(&p).unwrap();
    assert_eq!((c.objective.d, c.sampling.fusion, c.budget.epochs), (256, FusionKind::Hm, 7));
    assert_eq!((c.probe.probe_l2.clone(), c.align.swd_weight), (vec![0.1, 1.0], 0.5));
    // Untouched keys keep the values the file gives (the defaults).
    assert_eq!((c.diffusion.timesteps, c.run.log_every, c.align.cdd_kernels), (50, 20, 5));
    // Same keys in the same order: run folders and the `config` metadata of predictions.parquet
    // stay byte-identical. Keys added since the file was written appear as extra lines (their
    // defaults); without them the text is the file's.
    let old_keys: Vec<&str> = FLAT_CONFIG.lines().filter_map(|l| l.split(" = ").next()).collect();
    let written = c.to_toml_string().unwrap();
    let old_lines: Vec<&str> =
        written.lines().filter(|l| l.split(" = ").next().is_some_and(|k| old_keys.contains(&k))).collect();
    assert_eq!(old_lines.join("\n") + "\n", FLAT_CONFIG);
}
