//! The loaded dataset and the `KIND:PATH` entry point (DESIGN.md §4, §7).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::{readers, DatasetKind, DatasetOptions, Sample, Split};

/// A dataset as read from disk: class names plus one [`Sample`] per image, in file order.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The reader that produced it.
    pub kind: DatasetKind,
    /// Short name: the last component of `root` (e.g. `VireoFood172`).
    pub name: String,
    /// The dataset root: image paths and sample ids are relative to it.
    pub root: PathBuf,
    /// Class names; `Sample::label` indexes this list (K = its length).
    pub class_names: Vec<String>,
    /// All rows of all splits.
    pub samples: Vec<Sample>,
    /// The folders a reader chose among several possible layouts, by role, relative to `root`
    /// with `/` (Ingredient-101: `annotations`, `images`, which may sit one level down). Empty for other kinds.
    pub folders: BTreeMap<String, String>,
    /// Things worth a look that are not errors (integer labels leaving classes empty); printed
    /// to stderr by [`load_dataset`] and listed by `inspect`.
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Builds a dataset, naming it after the last component of `root`.
    pub fn new(kind: DatasetKind, root: PathBuf, class_names: Vec<String>, samples: Vec<Sample>) -> Dataset {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.to_string_lossy().into_owned());
        Dataset { kind, name, root, class_names, samples, folders: BTreeMap::new(), warnings: Vec::new() }
    }

    /// Records that the folder used for `role` is `rel` (relative to the root).
    pub fn with_folder(mut self, role: &str, rel: String) -> Dataset {
        self.folders.insert(role.to_string(), rel);
        self
    }

    /// Adds a warning ([`Dataset::warnings`]).
    pub fn with_warning(mut self, warning: String) -> Dataset {
        self.warnings.push(warning);
        self
    }

    /// Number of samples in `split`.
    pub fn count(&self, split: Split) -> usize {
        self.samples.iter().filter(|s| s.split == split).count()
    }

    /// Number of samples with a (non-empty) text.
    pub fn count_with_text(&self) -> usize {
        self.samples.iter().filter(|s| s.text.is_some()).count()
    }

    /// Image paths of the samples whose file does not exist (or is not a regular file), in
    /// sample order.
    pub fn missing_files(&self) -> Vec<PathBuf> {
        self.samples.iter().filter(|s| !s.image_path.is_file()).map(|s| s.image_path.clone()).collect()
    }

    /// Checks that every sample's image file exists.
    ///
    /// # Errors
    /// Some images are missing: the message gives their count and the first 5 paths.
    pub fn check_images_exist(&self) -> anyhow::Result<()> {
        let missing = self.missing_files();
        if missing.is_empty() {
            return Ok(());
        }
        let first: Vec<String> = missing.iter().take(5).map(|p| p.display().to_string()).collect();
        anyhow::bail!(
            "{} of {} image files of dataset {} are missing, e.g.: {}",
            missing.len(),
            self.samples.len(),
            self.root.display(),
            first.join(", ")
        )
    }
}

/// Splits a `KIND:PATH` spec into its kind and path.
///
/// # Errors
/// No `:` in the spec, an unknown kind, or an empty path.
pub fn parse_spec(spec: &str) -> anyhow::Result<(DatasetKind, PathBuf)> {
    let (kind, path) = spec.split_once(':').with_context(|| {
        format!(
            "dataset spec {spec:?} must be KIND:PATH with KIND one of manifest, imagefolder, \
             vireo172, ingredient101, hf, webdataset"
        )
    })?;
    let kind: DatasetKind = kind.parse().with_context(|| format!("in dataset spec {spec:?}"))?;
    anyhow::ensure!(!path.trim().is_empty(), "dataset spec {spec:?} has an empty PATH");
    Ok((kind, PathBuf::from(path)))
}

/// Loads a dataset from a `KIND:PATH` spec (DESIGN.md §4): `manifest:FILE_OR_DIR`,
/// `imagefolder:DIR`, `vireo172:DIR`, `ingredient101:DIR`, `hf:DIR_OR_FILE`,
/// `webdataset:SHARDS` (a folder or a brace pattern), with the default [`DatasetOptions`].
///
/// Missing image files are not an error here (see [`Dataset::missing_files`]). Warnings
/// ([`Dataset::warnings`]) are printed to stderr.
///
/// # Errors
/// A bad spec, a missing metadata file, a malformed line, a wrong ingredient count, a label
/// out of range or a repeated sample id; the message names the file and the 1-based line number
/// (or the shard and key, the Parquet file and row).
pub fn load_dataset(spec: &str) -> anyhow::Result<Dataset> {
    load_dataset_with(spec, &DatasetOptions::default())
}

/// [`load_dataset`] with column and key choices for the `hf` and `webdataset` kinds.
///
/// # Errors
/// As [`load_dataset`]; also an option that names a column or key the source lacks, or an
/// option given for a kind that does not use it.
pub fn load_dataset_with(spec: &str, options: &DatasetOptions) -> anyhow::Result<Dataset> {
    let (kind, path) = parse_spec(spec)?;
    let dataset = load_kind_with(kind, &path, options).with_context(|| format!("loading dataset {spec}"))?;
    for w in &dataset.warnings {
        eprintln!("warning: dataset {spec}: {w}");
    }
    Ok(dataset)
}

/// Loads a dataset of a known kind from `path` (default options, warnings not printed).
///
/// # Errors
/// As [`load_dataset`].
pub fn load_kind(kind: DatasetKind, path: &Path) -> anyhow::Result<Dataset> {
    load_kind_with(kind, path, &DatasetOptions::default())
}

/// Loads a dataset of a known kind from `path` with `options` (warnings not printed).
///
/// # Errors
/// As [`load_dataset_with`].
pub fn load_kind_with(kind: DatasetKind, path: &Path, options: &DatasetOptions) -> anyhow::Result<Dataset> {
    options.check_applies_to(kind)?;
    if kind != DatasetKind::WebDataset {
        anyhow::ensure!(path.exists(), "{} does not exist", path.display());
    }
    match kind {
        DatasetKind::Manifest => readers::manifest::load(path),
        DatasetKind::ImageFolder => readers::imagefolder::load(path),
        DatasetKind::Vireo172 => readers::vireo172::load(path),
        DatasetKind::Ingredient101 => readers::ingredient101::load(path),
        DatasetKind::Hf => readers::hf::load(path, options),
        DatasetKind::WebDataset => readers::webdataset::load(path, options),
    }
}
