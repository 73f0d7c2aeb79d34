//! Range checks shared by the config groups; each error names the key and what was expected.

use anyhow::{bail, Result};

/// `v` in the open interval (0, 1).
pub fn unit_open(key: &str, v: f64) -> Result<()> {
    if !(v > 0.0 && v < 1.0) {
        bail!("config key `{key}` = {v}: expected a value in the open interval (0, 1)");
    }
    Ok(())
}

/// `v` in [0, 1).
pub fn unit_half_open(key: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        bail!("config key `{key}` = {v}: expected a value in [0, 1)");
    }
    Ok(())
}

/// `v` finite and > 0.
pub fn positive(key: &str, v: f64) -> Result<()> {
    if !(v > 0.0 && v.is_finite()) {
        bail!("config key `{key}` = {v}: expected a finite value > 0");
    }
    Ok(())
}

/// `v` finite and >= 0.
pub fn non_negative(key: &str, v: f64) -> Result<()> {
    if !(v >= 0.0 && v.is_finite()) {
        bail!("config key `{key}` = {v}: expected a finite value >= 0");
    }
    Ok(())
}

/// `v` >= 1.
pub fn at_least_one(key: &str, v: usize) -> Result<()> {
    if v == 0 {
        bail!("config key `{key}` = 0: expected an integer >= 1");
    }
    Ok(())
}
