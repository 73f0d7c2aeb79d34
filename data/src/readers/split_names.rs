//! Splits from file and folder names, as the Hugging Face Hub names Parquet files
//! (`train-00000-of-00004.parquet`, `validation-...`, `test-...`) and as webdataset shard
//! patterns are usually written (`train-000000.tar`, `val/000000.tar`).

use std::path::Path;

use crate::Split;

/// The split a file name starts with: `train`, `validation`/`valid`/`val`/`dev`, `test` (and the
/// other synonyms of [`Split::from_synonym`]) followed by `-`, `_`, `.` or the end of the stem.
pub(crate) fn split_of_file_name(name: &str) -> Option<Split> {
    let stem = name.split('.').next().unwrap_or(name);
    let first = stem.split(['-', '_']).next().unwrap_or(stem);
    Split::from_synonym(first)
}

/// The split of `file` (relative to the dataset root): from its file name, else from the
/// nearest folder named after a split; `None` when neither names one.
pub(crate) fn split_of_path(rel: &Path) -> Option<Split> {
    let name = rel.file_name()?.to_string_lossy();
    split_of_file_name(&name).or_else(|| {
        rel.parent()?.components().rev().find_map(|c| Split::from_synonym(&c.as_os_str().to_string_lossy()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_names_and_folders_give_splits() {
        assert_eq!(split_of_file_name("train-00000-of-00004.parquet"), Some(Split::Train));
        assert_eq!(split_of_file_name("validation-00000-of-00001.parquet"), Some(Split::Val));
        assert_eq!(split_of_file_name("valid-1.parquet"), Some(Split::Val));
        assert_eq!(split_of_file_name("val_000001.tar"), Some(Split::Val));
        assert_eq!(split_of_file_name("test.parquet"), Some(Split::Test));
        assert_eq!(split_of_file_name("trainee-0.parquet"), None);
        assert_eq!(split_of_file_name("00000.tar"), None);
        assert_eq!(split_of_path(Path::new("data/validation/0000.parquet")), Some(Split::Val));
        assert_eq!(split_of_path(Path::new("data/0000.parquet")), None);
    }
}
