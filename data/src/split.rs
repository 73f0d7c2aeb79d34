//! Dataset splits and the split-name synonyms of the HF `imagefolder` convention (DESIGN.md §4):
//! train/training, validation/valid/dev/val, test/testing/eval/evaluation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the three dataset splits. Serialised as `"train"`, `"val"` or `"test"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training rows (`train`, `training`).
    Train,
    /// Validation rows (`val`, `validation`, `valid`, `dev`).
    Val,
    /// Test rows (`test`, `testing`, `eval`, `evaluation`).
    Test,
}

impl Split {
    /// All splits in canonical order: train, val, test.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// Canonical name: `"train"`, `"val"` or `"test"` (the values of the cache's `split` column).
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    /// Parses a split name or one of its synonyms, ignoring ASCII case and surrounding blanks;
    /// `None` for anything else (e.g. `"holdout"`).
    pub fn from_synonym(name: &str) -> Option<Split> {
        match name.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Split::Train),
            "val" | "validation" | "valid" | "dev" => Some(Split::Val),
            "test" | "testing" | "eval" | "evaluation" => Some(Split::Test),
            _ => None,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = anyhow::Error;

    /// Accepts the canonical names and the synonyms of [`Split::from_synonym`].
    ///
    /// # Errors
    /// Any other string; the message lists the accepted names.
    fn from_str(s: &str) -> anyhow::Result<Split> {
        Split::from_synonym(s).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown split {s:?}: expected train/training, val/validation/valid/dev or \
                 test/testing/eval/evaluation"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_map_to_canonical_splits() {
        assert_eq!("Training".parse::<Split>().unwrap(), Split::Train);
        assert_eq!(" dev ".parse::<Split>().unwrap(), Split::Val);
        assert_eq!("VALIDATION".parse::<Split>().unwrap(), Split::Val);
        assert_eq!("evaluation".parse::<Split>().unwrap(), Split::Test);
        assert!("holdout".parse::<Split>().is_err());
        assert_eq!(Split::Val.as_str(), "val");
    }
}
