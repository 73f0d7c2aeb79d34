//! Atomic file writes for every output of stage two (run folders, sweep records, checkpoints,
//! plots): a reader or a resumed run never sees a half-written file.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder, then renames it, so a
/// reader (or a resumed run) never sees a half-written file.
///
/// # Errors
/// The folder is missing or not writable (message names `path`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?.to_string_lossy();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tmp = path.with_file_name(format!(
        ".{name}.tmp-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("renaming {} to {}", tmp.display(), path.display())
    })
}

/// Safetensors bytes of `tensors` with `metadata`, byte-identical for the same content.
///
/// `safetensors::tensor::serialize` takes the metadata as a `HashMap`, whose iteration order (and
/// so the order of the `__metadata__` keys in the JSON header) changes from one process to the
/// next; the same run would then write files with different sha256s. This rewrites the header with
/// every object's keys sorted. The tensors' byte offsets are absolute, so the data section is
/// unchanged, and the sorted header has the same length (same entries, same compact JSON), padded
/// with spaces to the original length as the format requires.
///
/// # Errors
/// Serialisation fails (a tensor that is not contiguous, or not on the CPU).
pub fn safetensors_bytes<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a candle_core::Tensor)>,
    metadata: std::collections::HashMap<String, String>,
) -> Result<Vec<u8>> {
    let mut bytes = safetensors::tensor::serialize(tensors, Some(metadata)).context("serialising safetensors")?;
    let n = u64::from_le_bytes(bytes[..8].try_into().context("safetensors output shorter than its header length")?)
        as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).context("re-reading the header")?;
    let sorted = serde_json::to_vec(&sort_keys(header))?;
    anyhow::ensure!(sorted.len() <= n, "sorted safetensors header is longer ({} > {n} bytes)", sorted.len());
    bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
    bytes[8 + sorted.len()..8 + n].fill(b' ');
    Ok(bytes)
}

/// `v` with the keys of every object in sorted order (whatever map type serde_json is built with).
fn sort_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
    use std::collections::HashMap;

    /// Twenty fresh `HashMap`s of the same ten entries (each with its own random iteration order)
    /// give the same bytes, and the file reads back with every tensor and metadata entry.
    #[test]
    fn same_content_gives_the_same_bytes() -> Result<()> {
        let a = Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?;
        let b = Tensor::new(&[[4f32], [5.]], &Device::Cpu)?;
        let entries: Vec<(String, String)> = (0..10).map(|i| (format!("key{i}"), format!("value {i}"))).collect();
        let write = || safetensors_bytes([("b", &b), ("a", &a)], entries.iter().cloned().collect::<HashMap<_, _>>());
        let first = write()?;
        for _ in 0..20 {
            assert_eq!(write()?, first);
        }
        let st = safetensors::SafeTensors::deserialize(&first)?;
        assert_eq!(st.tensor("a")?.data(), [1f32, 2., 3.].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>());
        assert_eq!(st.tensor("b")?.shape(), &[2, 1]);
        let (_, meta) = safetensors::SafeTensors::read_metadata(&first)?;
        let md = meta.metadata().as_ref().expect("metadata");
        assert_eq!(md.len(), 10);
        assert_eq!(md["key7"], "value 7");
        // The keys appear sorted in the header text: key0 before key1 ... before key9.
        let n = u64::from_le_bytes(first[..8].try_into()?) as usize;
        let text = std::str::from_utf8(&first[8..8 + n])?;
        let pos: Vec<usize> = (0..10).map(|i| text.find(&format!("\"key{i}\"")).expect("key")).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
        Ok(())
    }
}
