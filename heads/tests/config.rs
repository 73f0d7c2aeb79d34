//! HeadsConfig: defaults of DESIGN §2, `--set` parsing, validation naming the key.

use marnet_heads::model::config::{FusionKind, SamplerKind, ScheduleKind};
use marnet_heads::HeadsConfig;

fn err(cfg: &HeadsConfig) -> String {
    format!("{:#}", cfg.validate().unwrap_err())
}

#[test]
fn defaults_are_the_design_values_and_valid() {
    let c = HeadsConfig::default();
    assert_eq!(
        (c.d, c.timesteps, c.hidden, c.temb_dim, c.batch, c.epochs, c.phase2_epochs),
        (512, 50, 1024, 128, 256, 50, 50)
    );
    assert_eq!((c.lr, c.weight_decay, c.tau_init, c.warmup), (1e-3, 1e-4, 0.07, 0.05));
    assert_eq!(c.schedule, ScheduleKind::Cosine);
    assert_eq!(c.fusion, FusionKind::Concat);
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
    assert_eq!(c.lr, 3e-4);
    assert_eq!(c.epochs, 5);
    assert_eq!(c.fusion, FusionKind::Hm);
    assert_eq!(c.sampler, SamplerKind::Ddim);
    assert_eq!(c.guidance, 1.0);
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
    let base = HeadsConfig::default();
    assert!(err(&HeadsConfig { beta_start: 0.0, ..base.clone() }).contains("beta_start"));
    assert!(err(&HeadsConfig { beta_end: 1.0, ..base.clone() }).contains("beta_end"));
    let e = err(&HeadsConfig { beta_start: 0.03, beta_end: 0.02, ..base.clone() });
    assert!(e.contains("beta_start") && e.contains("beta_end"), "{e}");
    assert!(err(&HeadsConfig { timesteps: 0, ..base.clone() }).contains("timesteps"));
    assert!(err(&HeadsConfig { lr: -1.0, ..base.clone() }).contains("`lr`"));
    assert!(err(&HeadsConfig { ddim_steps: 60, sampler: SamplerKind::Ddim, ..base.clone() }).contains("ddim_steps"));
    // Linear β 1e-4..0.02 over T = 50: ᾱ_T ≈ exp(-Σβ) = exp(-50·0.01005) ≈ 0.60 > 0.05.
    let e = err(&HeadsConfig { schedule: ScheduleKind::Linear, ..base.clone() });
    assert!(e.contains("alphas_cumprod") && e.contains("pure noise") && e.contains("timesteps"), "{e}");
    // With T = 1000 the linear schedule ends at ᾱ_T ≈ 4e-5 and is accepted.
    HeadsConfig { schedule: ScheduleKind::Linear, timesteps: 1000, ..base.clone() }.validate().unwrap();
}

#[test]
fn toml_round_trip_and_file_errors_name_the_file() {
    let c = HeadsConfig { fusion: FusionKind::Sum, lr: 5e-4, ..HeadsConfig::default() };
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
