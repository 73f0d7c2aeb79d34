//! A config value as written in a sweep file: TOML boolean, integer, float or string.

use std::fmt;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// One override value. It reaches the config as the string [`Value::to_string`] gives, which is
/// also what the trial hash is computed from (so `d = 256` and `d = 256.0` are the same trial).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Value {
    /// Converts a TOML scalar; `what` names the place for the error (file and key).
    ///
    /// # Errors
    /// Arrays, tables, dates and non-finite floats.
    pub fn from_toml(v: &toml::Value, what: &str) -> Result<Self> {
        Ok(match v {
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Integer(i) => Value::Int(*i),
            toml::Value::Float(f) if f.is_finite() => Value::Float(*f),
            toml::Value::String(s) => Value::Str(s.clone()),
            other => bail!("{what}: expected a boolean, number or string, found {} `{other}`", other.type_str()),
        })
    }

    /// The value as a number, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// `true`, `42`, `0.001` (shortest round-trip form of the float), or the string itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}
