//! Image decoding and preprocessing ahead of the model: a producer thread walks the batches in
//! order, reads the images held in Parquet files or tar shards in order ([`super::sources`]),
//! decodes and preprocesses each batch's images in parallel with rayon, and hands the
//! batch over a bounded channel while the consumer embeds the previous one (DESIGN.md section 7:
//! decoding never waits for the model, the model rarely waits for decoding). Both sides are
//! timed so the run summary shows the split (which side limits the speed, on a GPU decoding).

use crate::preprocess::Preprocessor;
use marnet_data::image_bytes::ImageBytesReader;
use marnet_data::Sample;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Instant;

/// Batches preprocessed ahead of the one being embedded.
pub const PREFETCH_DEPTH: usize = 2;

/// One batch of samples of one part, with each image's pixel values or its error.
pub struct PreparedBatch {
    /// Part the batch belongs to.
    pub part: usize,
    /// Indices into the sample list.
    pub range: Range<usize>,
    /// Per sample: `(3, H, W)` f32 pixel values in CHW order, or why the image is unusable.
    pub pixels: Vec<Result<Vec<f32>, anyhow::Error>>,
    /// Wall-clock seconds spent decoding and preprocessing this batch (all rayon threads).
    pub decode_seconds: f64,
}

/// The batches of `parts` (each a part index with its sample range), `batch_size` samples at a
/// time, never crossing a part boundary: batch composition changes only speed, not results.
pub fn batches(parts: &[(usize, Range<usize>)], batch_size: usize) -> Vec<(usize, Range<usize>)> {
    let step = batch_size.max(1);
    let mut out = Vec::new();
    for (part, range) in parts {
        let mut start = range.start;
        while start < range.end {
            let end = (start + step).min(range.end);
            out.push((*part, start..end));
            start = end;
        }
    }
    out
}

/// Starts the producer thread in `scope`. The receiver yields the batches in order; dropping it
/// stops the producer after its current batch. The thread returns the seconds it spent blocked
/// because [`PREFETCH_DEPTH`] batches were already waiting (decoding waited for the model).
pub fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    samples: &'env [Sample],
    preprocessor: &'env Preprocessor,
    batches: Vec<(usize, Range<usize>)>,
) -> (Receiver<PreparedBatch>, ScopedJoinHandle<'scope, f64>) {
    let (tx, rx) = sync_channel(PREFETCH_DEPTH);
    let handle = scope.spawn(move || {
        let mut blocked = 0.0;
        // One reader for the whole run: batches come in sample order, so shards stream.
        let mut reader = ImageBytesReader::new();
        for (part, range) in batches {
            let started = Instant::now();
            let pixels = super::sources::prepare(&samples[range.clone()], &mut reader, preprocessor);
            let decode_seconds = started.elapsed().as_secs_f64();
            let sending = Instant::now();
            let sent = tx.send(PreparedBatch { part, range, pixels, decode_seconds });
            blocked += sending.elapsed().as_secs_f64();
            if sent.is_err() {
                break;
            }
        }
        blocked
    });
    (rx, handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stop_at_part_boundaries() {
        // parts [0,5) and [5,7) in batches of 2: [0,2) [2,4) [4,5) | [5,7).
        let b = batches(&[(0, 0..5), (1, 5..7)], 2);
        assert_eq!(b, vec![(0, 0..2), (0, 2..4), (0, 4..5), (1, 5..7)]);
        assert_eq!(batches(&[(3, 6..9)], 0), vec![(3, 6..7), (3, 7..8), (3, 8..9)]);
    }
}
