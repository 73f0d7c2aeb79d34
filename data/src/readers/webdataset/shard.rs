//! Listing one tar shard with the `tar` crate: members grouped into samples by key as
//! webdataset does (`base_plus_ext`: the key is the member path up to the first `.` of its file
//! name, the rest is the extension; consecutive members with the same key form one sample).
//! Small members (`txt`, `cls`, `json`, ...) are read; image members are only located (data
//! offset and size), so listing skips over image data with seeks.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::Context;

/// Image member extensions, in order of preference when a sample has several.
pub(crate) const IMAGE_EXTS: [&str; 4] = ["jpg", "jpeg", "png", "webp"];
/// Non-image members larger than this are not read (they are not labels or captions).
const MAX_SMALL_MEMBER: u64 = 1 << 20;

/// An image member: name, data offset in the shard, size in bytes.
#[derive(Debug, Clone)]
pub(crate) struct ImageMember {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// One key's members.
#[derive(Debug, Clone)]
pub(crate) struct ShardSample {
    pub key: String,
    /// 1-based position of the key's first member in the shard.
    pub member_number: usize,
    /// The preferred image member, if any.
    pub image: Option<ImageMember>,
    /// Small members by lowercased extension (`txt`, `cls`, `json`), as text.
    pub small: BTreeMap<String, String>,
    /// All member names, for messages.
    pub members: Vec<String>,
}

/// The shard's samples in member order, and a note when the shard ends early (a cut-off
/// header or member: what was listed before it is kept).
///
/// # Errors
/// The shard cannot be opened, its first header is unreadable, or a key reappears after other
/// keys (a duplicate sample; both member positions named).
pub(crate) fn list(shard: &Path) -> anyhow::Result<(Vec<ShardSample>, Option<String>)> {
    let file = File::open(shard).with_context(|| format!("opening shard {}", shard.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut archive = tar::Archive::new(BufReader::new(file));
    let entries = archive.entries_with_seek().with_context(|| format!("reading shard {}", shard.display()))?;
    let mut out: Vec<ShardSample> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut note = None;
    for (i, entry) in entries.enumerate() {
        let number = i + 1;
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) if !out.is_empty() => {
                note = Some(format!(
                    "{} is cut off or corrupt after member {i} ({e}); the rest is ignored",
                    shard.display()
                ));
                break;
            }
            Err(e) => return Err(e).with_context(|| format!("{}: not a tar shard", shard.display())),
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let Some((key, ext)) = split_key(&name) else { continue };
        let (offset, size) = (entry.raw_file_position(), entry.size());
        if out.last().is_none_or(|s| s.key != key) {
            if let Some(&first) = seen.get(key) {
                anyhow::bail!(
                    "{} member {number} ({name}): sample key {key:?} repeats member {first} of the same shard \
                     (members of a key must be consecutive and a key may appear once)",
                    shard.display()
                );
            }
            seen.insert(key.to_string(), number);
            out.push(ShardSample {
                key: key.to_string(),
                member_number: number,
                image: None,
                small: BTreeMap::new(),
                members: Vec::new(),
            });
        }
        let sample = out.last_mut().context("internal: no sample for a member")?;
        sample.members.push(name.clone());
        let ext = ext.to_ascii_lowercase();
        if IMAGE_EXTS.contains(&ext.as_str()) {
            let rank = |m: &ImageMember| IMAGE_EXTS.iter().position(|e| m.name.to_ascii_lowercase().ends_with(e));
            let candidate = ImageMember { name, offset, size };
            if sample.image.as_ref().is_none_or(|m| rank(&candidate) < rank(m)) {
                sample.image = Some(candidate);
            }
        } else if size <= MAX_SMALL_MEMBER && offset.saturating_add(size) <= len {
            let mut text = String::new();
            if entry.read_to_string(&mut text).is_ok() {
                sample.small.insert(ext, text);
            }
        }
    }
    Ok((out, note))
}

/// `dir/KEY.EXT` → (`dir/KEY`, `EXT`): the key ends at the first `.` of the file name.
fn split_key(name: &str) -> Option<(&str, &str)> {
    let start = name.rfind('/').map_or(0, |i| i + 1);
    let dot = name[start..].find('.')? + start;
    (dot > start).then(|| (&name[..dot], &name[dot + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_end_at_the_first_dot_of_the_file_name() {
        assert_eq!(split_key("000123.jpg"), Some(("000123", "jpg")));
        assert_eq!(split_key("a.b/x1.seg.png"), Some(("a.b/x1", "seg.png")));
        assert_eq!(split_key("dir/.hidden"), None);
        assert_eq!(split_key("README"), None);
    }
}
