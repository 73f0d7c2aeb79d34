//! The `huggingface` key of a Parquet file's Arrow schema metadata, as `datasets` writes it:
//! `{"info": {"features": {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel",
//! "names": [...]}, ...}}}` (the `datasets` `Features` serialisation), and the choice of the
//! image, label and text columns from it, from the flags, or from common column names.

use std::collections::HashMap;

use arrow_schema::{DataType, Schema};
use serde_json::Value;

use crate::DatasetOptions;

/// Column names tried for the image when no `Image` feature and no `--image-column` is given
/// (`jpg`: img2dataset's Parquet output).
const IMAGE_NAMES: [&str; 7] = ["image", "img", "jpg", "jpeg", "png", "webp", "file_name"];
/// Column names tried for the label.
const LABEL_NAMES: [&str; 5] = ["label", "labels", "cls", "class", "fine_label"];
/// Column names tried for the text (img2dataset writes the caption as `txt`).
const TEXT_NAMES: [&str; 4] = ["text", "txt", "caption", "sentence"];

/// How the image column stores the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageLayout {
    /// An HF `Image` struct `{bytes: binary, path: string}`.
    Struct,
    /// A binary column of encoded bytes.
    Binary,
    /// A string column of paths relative to the dataset folder.
    Path,
}

/// The columns one Parquet file is read with.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    pub image: String,
    pub layout: ImageLayout,
    pub label: String,
    /// `Some(names)` when the label column is a `ClassLabel`: its values index these names.
    pub class_label: Option<Vec<String>>,
    pub text: Option<String>,
    /// A `split` column, used where the file name and folders name no split.
    pub split: Option<String>,
    /// A `key` column (img2dataset): ids are `FILE/KEY` instead of `FILE/ROW`.
    pub key: Option<String>,
}

/// The `_type` of every feature, and the names of `ClassLabel` features.
fn features(schema: &Schema) -> HashMap<String, (String, Option<Vec<String>>)> {
    let Some(raw) = schema.metadata().get("huggingface") else { return HashMap::new() };
    let Ok(json) = serde_json::from_str::<Value>(raw) else { return HashMap::new() };
    let Some(map) = json.pointer("/info/features").and_then(Value::as_object) else { return HashMap::new() };
    map.iter()
        .map(|(name, f)| {
            let ty = f.get("_type").and_then(Value::as_str).unwrap_or_default().to_string();
            let names = f
                .get("names")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|n| n.as_str().map_or_else(|| n.to_string(), str::to_string)).collect());
            (name.clone(), (ty, names))
        })
        .collect()
}

/// How `field` stores images, or `None` if it cannot hold them.
fn layout_of(data_type: &DataType) -> Option<ImageLayout> {
    match data_type {
        DataType::Struct(fields) if fields.iter().any(|f| f.name() == "bytes") => Some(ImageLayout::Struct),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Some(ImageLayout::Binary),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(ImageLayout::Path),
        _ => None,
    }
}

/// Picks the columns of `schema` (file `file`, for messages).
///
/// # Errors
/// A flag names a column the file lacks; no image or label column can be found (the columns
/// are listed and the flag to pass is named); the image column's type holds no image.
pub(crate) fn choose(schema: &Schema, options: &DatasetOptions, file: &str) -> anyhow::Result<Columns> {
    let feats = features(schema);
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let listed = names.join(", ");
    let has = |n: &str| names.contains(&n);
    let given = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<String>> {
        match v {
            Some(c) if !has(c) => anyhow::bail!("{file}: {flag} {c:?}: no such column (columns: {listed})"),
            other => Ok(other.clone()),
        }
    };
    let typed = |ty: &str| {
        let mut found: Vec<&String> = feats.iter().filter(|(_, (t, _))| t == ty).map(|(n, _)| n).collect();
        found.sort();
        found.first().map(|s| s.to_string())
    };
    let named = |candidates: &[&str]| candidates.iter().find(|c| has(c)).map(|c| c.to_string());

    let image = given("--image-column", &options.image_column)?
        .or_else(|| typed("Image"))
        .or_else(|| named(&IMAGE_NAMES))
        .ok_or_else(|| {
            anyhow::anyhow!("{file}: no image column (no Image feature, none of {IMAGE_NAMES:?}); pass --image-column (columns: {listed})")
        })?;
    let field = schema.field_with_name(&image)?;
    let layout = layout_of(field.data_type()).ok_or_else(|| {
        anyhow::anyhow!(
            "{file}: image column {image:?} is {}: expected a struct {{bytes, path}}, binary bytes or string paths",
            field.data_type()
        )
    })?;
    let label = given("--label-column", &options.label_column)?
        .or_else(|| typed("ClassLabel"))
        .or_else(|| named(&LABEL_NAMES))
        .ok_or_else(|| {
            anyhow::anyhow!("{file}: no label column (no ClassLabel feature, none of {LABEL_NAMES:?}); pass --label-column (columns: {listed})")
        })?;
    let class_label = feats.get(&label).filter(|(t, _)| t == "ClassLabel").and_then(|(_, n)| n.clone());
    let text = given("--text-column", &options.text_column)?.or_else(|| named(&TEXT_NAMES));
    let split = has("split").then(|| "split".to_string());
    let key = has("key").then(|| "key".to_string());
    Ok(Columns { image, layout, label, class_label, text, split, key })
}
