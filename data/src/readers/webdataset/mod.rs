//! `webdataset:SHARDS`: webdataset / img2dataset tar shards (DESIGN.md §4), listed with the
//! `tar` crate ([`shard::list`]), read once in order, nothing unpacked to disk.
//!
//! SHARDS is a `.tar` file, a folder (all `*.tar` below it, sorted) or brace patterns
//! (`shards/{00000..00099}.tar`, several joined by `::`; [`spec::shards`]). Members are grouped
//! by key (`KEY.jpg`, `KEY.txt`, `KEY.json`, `KEY.cls`); the image is the `jpg`, `jpeg`, `png`
//! or `webp` member. Label: the `cls` member, or the JSON member's `--label-key` (a string or an
//! integer), resolved as manifest labels are (integers = 0-based indices, names sorted). Text:
//! the `txt` member, or the JSON member's `--text-key` (a string or a list of strings joined
//! with `", "`); none = no `x_s`. Split: the shard's file name (`train-000000.tar`) or a
//! split-named folder, else the JSON member's `split`, else train. Id: `SHARD/KEY` with SHARD
//! relative to the root (the folder, or the fixed part of the pattern before its first brace).
//! A key without an image member stays a sample whose image is missing (an error, or a skip
//! entry under `--on-bad-image skip`); a key repeated in a shard is an error.

mod shard;
mod spec;

use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use super::files::rel_id;
use super::labels::resolve_labels;
use super::record::{non_empty_text, Origin, RawRecord};
use super::split_names::split_of_path;
use crate::{Dataset, DatasetKind, DatasetOptions, ImageSource, Split};

/// Loads the shards of `spec`.
///
/// # Errors
/// A bad pattern or missing shard, an unreadable shard, a repeated key, a sample without label
/// (no `cls` member and no `--label-key` value), a bad split name, or a label problem (shard and
/// key named).
pub fn load(spec: &Path, options: &DatasetOptions) -> anyhow::Result<Dataset> {
    let (root, shards) = spec::shards(&spec.to_string_lossy())?;
    let mut records = Vec::new();
    let mut notes = Vec::new();
    for path in &shards {
        let rel = rel_id(&root, path);
        let shard_split = split_of_path(Path::new(&rel));
        let (samples, note) = shard::list(path)?;
        notes.extend(note);
        for s in samples {
            let place = format!("{} member {} (key {})", path.display(), s.member_number, s.key);
            let origin = Origin { file: path.clone(), number: s.member_number, unit: "member" };
            let json = match s.small.get("json") {
                Some(t) => Some(serde_json::from_str::<Value>(t).with_context(|| format!("{place}: {}.json", s.key))?),
                None => None,
            };
            let label = label_of(&s.small, json.as_ref(), options).with_context(|| place.clone())?;
            let text = text_of(&s.small, json.as_ref(), options);
            let split = match (shard_split, json.as_ref().and_then(|j| j.get("split")).and_then(Value::as_str)) {
                (Some(sp), _) => sp,
                (None, Some(name)) => name.parse().with_context(|| format!("{place}: JSON \"split\""))?,
                (None, None) => Split::Train,
            };
            let source = match s.image {
                Some(m) => ImageSource::Tar { member: m.name, offset: m.offset, size: m.size },
                None => ImageSource::Missing {
                    why: format!(
                        "key {} in {} has no jpg/jpeg/png/webp member (members: {})",
                        s.key,
                        path.display(),
                        s.members.join(", ")
                    ),
                },
            };
            records.push(RawRecord {
                rel_path: format!("{rel}/{}", s.key),
                text,
                label,
                split,
                origin,
                image: Some((path.clone(), source)),
            });
        }
    }
    let resolved = resolve_labels(&records, None)?;
    let samples = records.into_iter().zip(resolved.labels).map(|(r, l)| r.into_sample(&root, l)).collect();
    let mut dataset = Dataset::new(DatasetKind::WebDataset, root, resolved.names, samples);
    dataset.warnings.extend(resolved.warning);
    dataset.warnings.extend(notes);
    Ok(dataset)
}

/// The label: `--label-key` of the JSON member, else the `cls` member.
fn label_of(
    small: &std::collections::BTreeMap<String, String>,
    json: Option<&Value>,
    options: &DatasetOptions,
) -> anyhow::Result<String> {
    if let Some(key) = &options.label_key {
        let value = json.with_context(|| format!("no .json member to read --label-key {key:?} from"))?.get(key);
        return match value {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            None => {
                anyhow::bail!("the .json member has no key {key:?} (--label-key): expected a class name or an integer")
            }
            Some(other) => anyhow::bail!("JSON key {key:?} is {other}: expected a class name or an integer"),
        };
    }
    let cls = small.get("cls").or_else(|| small.get("class")).or_else(|| small.get("label"));
    cls.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).context(
        "no label: expected a KEY.cls member (or KEY.class, KEY.label), or pass --label-key to read it from KEY.json",
    )
}

/// The text: `--text-key` of the JSON member, else the `txt` member.
fn text_of(
    small: &std::collections::BTreeMap<String, String>,
    json: Option<&Value>,
    options: &DatasetOptions,
) -> Option<String> {
    match &options.text_key {
        Some(key) => match json?.get(key)? {
            Value::String(s) => non_empty_text(Some(s)),
            Value::Array(items) => {
                let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                non_empty_text(Some(&parts.join(", ")))
            }
            _ => None,
        },
        None => non_empty_text(small.get("txt").map(String::as_str)),
    }
}
