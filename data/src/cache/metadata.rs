//! The cache's key-value metadata (DESIGN.md §3): which encoders, weights, pooling and
//! preprocessing produced the features. Stored in every part as Arrow schema metadata and as
//! Parquet file key-value metadata, keys prefixed `marnet.`.
//!
//! `preprocess` holds `"exif_orientation": "applied"` from the build on that turns images upright
//! by their EXIF orientation (as transformers' `load_image` does); a cache without it is refused on resume and by
//! `marnet-heads predict`, with [`exif_orientation_hint`] saying why.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{OLDEST_READABLE_SCHEMA_VERSION, SCHEMA_VERSION};

/// Prefix of every metadata key.
pub const KEY_PREFIX: &str = "marnet.";

/// The one key allowed to differ between parts of one cache (a newer build may resume).
pub const TOOL_VERSION_KEY: &str = "marnet.tool_version";

/// Provenance of the features in a cache. Two caches (or two parts) may be mixed only when
/// every field except `tool_version` is equal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheMetadata {
    /// Image encoder: local folder or hub id.
    pub image_model: String,
    /// SHA-256 (hex) of the image encoder's weight file.
    pub image_model_sha256: String,
    /// `config.json` `model_type` of the image encoder (`vit`, `clip_vision_model`, ...).
    pub image_model_type: String,
    /// Image pooling: `cls` or `mean`.
    pub image_pooling: String,
    /// Image preprocessing (size, resample, mean, std, ..., `exif_orientation`) as JSON.
    pub preprocess: serde_json::Value,
    /// Text encoder: local folder or hub id.
    pub text_model: String,
    /// SHA-256 (hex) of the text encoder's weight file.
    pub text_model_sha256: String,
    /// `config.json` `model_type` of the text encoder (`bert`, ...).
    pub text_model_type: String,
    /// Text pooling: `cls` or `mean`.
    pub text_pooling: String,
    /// Effective maximum tokens per text, specials included.
    pub max_tokens: usize,
    /// Whether text features were L2-normalised (sentence-transformers `Normalize`).
    pub text_normalize: bool,
    /// Compute dtype of the encoders: `f32`, `bf16` or `f16` (features are stored as f32).
    pub dtype: String,
    /// Dataset name (e.g. the `KIND:PATH` spec or its folder name).
    pub dataset: String,
    /// Class names; the `label` column indexes them.
    pub class_names: Vec<String>,
    /// D_v, width of `x_v`.
    pub d_v: usize,
    /// D_s, width of `x_s`.
    pub d_s: usize,
    /// Version of the tool that wrote the part (may differ between parts).
    pub tool_version: String,
}

impl CacheMetadata {
    /// The key-value form: `marnet.<field>` → text (JSON for `preprocess` and `class_names`),
    /// plus `marnet.schema_version`.
    pub fn to_kv(&self) -> BTreeMap<String, String> {
        let json = |v: &serde_json::Value| serde_json::to_string(v).unwrap_or_default();
        let names = serde_json::to_string(&self.class_names).unwrap_or_default();
        [
            ("schema_version", SCHEMA_VERSION.to_string()),
            ("image_model", self.image_model.clone()),
            ("image_model_sha256", self.image_model_sha256.clone()),
            ("image_model_type", self.image_model_type.clone()),
            ("image_pooling", self.image_pooling.clone()),
            ("preprocess", json(&self.preprocess)),
            ("text_model", self.text_model.clone()),
            ("text_model_sha256", self.text_model_sha256.clone()),
            ("text_model_type", self.text_model_type.clone()),
            ("text_pooling", self.text_pooling.clone()),
            ("max_tokens", self.max_tokens.to_string()),
            ("text_normalize", self.text_normalize.to_string()),
            ("dtype", self.dtype.clone()),
            ("dataset", self.dataset.clone()),
            ("class_names", names),
            ("d_v", self.d_v.to_string()),
            ("d_s", self.d_s.to_string()),
            ("tool_version", self.tool_version.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{KEY_PREFIX}{k}"), v))
        .collect()
    }

    /// Parses the key-value form; keys without the `marnet.` prefix are ignored.
    ///
    /// # Errors
    /// A missing key, a value that does not parse (named with the expected type), or a
    /// `marnet.schema_version` outside [`OLDEST_READABLE_SCHEMA_VERSION`]`..=`[`SCHEMA_VERSION`].
    pub fn from_kv<'a, I>(kv: I) -> anyhow::Result<CacheMetadata>
    where
        I: IntoIterator<Item = (&'a String, &'a String)>,
    {
        let map: BTreeMap<&str, &str> =
            kv.into_iter().filter_map(|(k, v)| k.strip_prefix(KEY_PREFIX).map(|k| (k, v.as_str()))).collect();
        let get = |key: &str| -> anyhow::Result<String> {
            map.get(key).map(|v| v.to_string()).with_context(|| format!("missing metadata key {KEY_PREFIX}{key}"))
        };
        let parse = |key: &str, what: &str| -> anyhow::Result<usize> {
            let v = get(key)?;
            v.trim().parse().with_context(|| format!("metadata key {KEY_PREFIX}{key} = {v:?}: expected {what}"))
        };
        let version = parse("schema_version", "an integer")?;
        anyhow::ensure!(
            (OLDEST_READABLE_SCHEMA_VERSION as usize..=SCHEMA_VERSION as usize).contains(&version),
            "cache schema version {version}, but this build reads versions {OLDEST_READABLE_SCHEMA_VERSION} to {SCHEMA_VERSION}: re-extract the features"
        );
        let json = |key: &str| -> anyhow::Result<serde_json::Value> {
            let v = get(key)?;
            serde_json::from_str(&v).with_context(|| format!("metadata key {KEY_PREFIX}{key}: invalid JSON {v:?}"))
        };
        let class_names: Vec<String> = serde_json::from_value(json("class_names")?)
            .context("metadata key marnet.class_names: expected a JSON array of strings")?;
        let text_normalize = match get("text_normalize")?.trim() {
            "true" => true,
            "false" => false,
            other => anyhow::bail!("metadata key marnet.text_normalize = {other:?}: expected true or false"),
        };
        Ok(CacheMetadata {
            image_model: get("image_model")?,
            image_model_sha256: get("image_model_sha256")?,
            image_model_type: get("image_model_type")?,
            image_pooling: get("image_pooling")?,
            preprocess: json("preprocess")?,
            text_model: get("text_model")?,
            text_model_sha256: get("text_model_sha256")?,
            text_model_type: get("text_model_type")?,
            text_pooling: get("text_pooling")?,
            max_tokens: parse("max_tokens", "an integer")?,
            text_normalize,
            dtype: get("dtype")?,
            dataset: get("dataset")?,
            class_names,
            d_v: parse("d_v", "an integer")?,
            d_s: parse("d_s", "an integer")?,
            tool_version: get("tool_version")?,
        })
    }

    /// The keys (with prefix) whose values differ from `other`'s, ignoring `tool_version`;
    /// empty when the two may be mixed.
    pub fn differing_keys(&self, other: &CacheMetadata) -> Vec<String> {
        let (a, b) = (self.to_kv(), other.to_kv());
        a.iter()
            .filter(|(k, v)| k.as_str() != TOOL_VERSION_KEY && b.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// A readable list of differences, `key: "a" vs "b"` (long values shortened), or `None`
    /// when [`Self::differing_keys`] is empty.
    pub fn describe_differences(&self, other: &CacheMetadata) -> Option<String> {
        let keys = self.differing_keys(other);
        if keys.is_empty() {
            return None;
        }
        let (a, b) = (self.to_kv(), other.to_kv());
        let short = |s: &str| {
            if s.chars().count() > 60 {
                format!("{}...", s.chars().take(60).collect::<String>())
            } else {
                s.to_string()
            }
        };
        let mut parts: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    "{k}: {:?} vs {:?}",
                    short(a.get(k).map_or("", String::as_str)),
                    short(b.get(k).map_or("", String::as_str))
                )
            })
            .collect();
        parts.extend(exif_orientation_hint(&self.preprocess, &other.preprocess).map(str::to_string));
        Some(parts.join("; "))
    }
}

/// Name of the preprocessing key that records that images were turned upright by their EXIF
/// orientation before preprocessing (features of upright and of sideways photos must not mix).
pub const EXIF_ORIENTATION_KEY: &str = "exif_orientation";

/// The explanation to add when two preprocessing descriptions differ in whether the EXIF
/// orientation was applied (one has [`EXIF_ORIENTATION_KEY`], the other not); `None` otherwise.
pub fn exif_orientation_hint(a: &serde_json::Value, b: &serde_json::Value) -> Option<&'static str> {
    let applied = |v: &serde_json::Value| v.get(EXIF_ORIENTATION_KEY).is_some();
    (applied(a) != applied(b)).then_some(
        "one side was extracted by an older build that ignored the images' EXIF orientation \
         (photos stored sideways were embedded sideways): re-extract those features with this build",
    )
}
