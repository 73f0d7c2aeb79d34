//! HeadsConfig: defaults of DESIGN §2, `--set` parsing, validation naming the key.

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
    // 41 keys of the method and the run, 11 of the Table 1 rows (counted in the docs table).
    assert_eq!(derived.len(), 52);
    assert_eq!(documented, derived, "docs/training.md `## Config keys` vs HeadsConfig::keys()");
}

/// `config.toml` as the flat, ungrouped `HeadsConfig` wrote it (a run folder of 2026-12-07 with
/// `d`, `fusion`, `epochs`, `probe_l2` and `swd_weight` edited by hand).
const FLAT_CONFIG: &str = include_str!("fixtures/flat_config.toml");

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
    // stay byte-identical.
    assert_eq!(c.to_toml_string().unwrap(), FLAT_CONFIG);
}
