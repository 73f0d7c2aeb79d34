//! Column and key choices for the `hf:` and `webdataset:` kinds (DESIGN.md §4), given on the
//! command line as `--image-column`, `--label-column`, `--text-column`, `--label-key`,
//! `--text-key` (`marnet-extract run` and `inspect`).

use crate::DatasetKind;

/// Which columns (Parquet) or keys (webdataset JSON members) hold the image, label and text.
/// `None` = found automatically (module docs of `readers::hf` and `readers::webdataset`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatasetOptions {
    /// `hf`: the image column (an HF `Image` struct `{bytes, path}`, a binary column, or a
    /// string column of paths relative to the dataset folder).
    pub image_column: Option<String>,
    /// `hf`: the label column (a `ClassLabel`, or integers / strings).
    pub label_column: Option<String>,
    /// `hf`: the text column (a string, or a list of strings joined with `", "`).
    pub text_column: Option<String>,
    /// `webdataset`: the key of the `.json` member holding the label (instead of `.cls`).
    pub label_key: Option<String>,
    /// `webdataset`: the key of the `.json` member holding the text (instead of `.txt`).
    pub text_key: Option<String>,
}

impl DatasetOptions {
    /// Refuses options that `kind` would ignore, so a typo in the kind is not silent.
    ///
    /// # Errors
    /// A column option with a kind other than `hf`, or a key option with a kind other than
    /// `webdataset`.
    pub fn check_applies_to(&self, kind: DatasetKind) -> anyhow::Result<()> {
        let columns = [("--image-column", &self.image_column), ("--label-column", &self.label_column)];
        let columns = columns.into_iter().chain([("--text-column", &self.text_column)]);
        for (flag, value) in columns {
            anyhow::ensure!(
                value.is_none() || kind == DatasetKind::Hf,
                "{flag} applies to --dataset hf:PATH only (this dataset is {kind})"
            );
        }
        for (flag, value) in [("--label-key", &self.label_key), ("--text-key", &self.text_key)] {
            anyhow::ensure!(
                value.is_none() || kind == DatasetKind::WebDataset,
                "{flag} applies to --dataset webdataset:SHARDS only (this dataset is {kind})"
            );
        }
        Ok(())
    }
}
