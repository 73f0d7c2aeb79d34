//! Which backbone tensors train (`--train-image-backbone`, `--freeze-blocks N`).
//!
//! A tensor's place in the network is read from its HF name (DESIGN §5): `embeddings.*` (and
//! CLIP's `pre_layrnorm.*`) come before the blocks; `encoder.layer.N.*` (ViT, BERT) or
//! `encoder.layers.N.*` (CLIP) are block N; everything else (`layernorm`, `post_layernorm`,
//! `visual_projection`, `pooler`) comes after the last block. A `vit.`, `vision_model.` or
//! `bert.` prefix is ignored. Freezing N blocks freezes blocks `0..N` and, when N > 0, the
//! embeddings (their gradient would have to pass through the frozen blocks anyway).

use anyhow::{bail, Result};

/// Where a backbone tensor sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Patch/position/class (or word) embeddings and CLIP's `pre_layrnorm`.
    Embeddings,
    /// Transformer block N (0-based).
    Block(usize),
    /// Final LayerNorm, projection, pooler.
    Top,
}

const PREFIXES: [&str; 3] = ["vit.", "vision_model.", "bert."];

/// The [`Stage`] of HF tensor `name`.
pub fn stage_of(name: &str) -> Stage {
    let mut n = name;
    for p in PREFIXES {
        if let Some(rest) = n.strip_prefix(p) {
            n = rest;
            break;
        }
    }
    if n.starts_with("embeddings.") || n.starts_with("pre_layrnorm.") {
        return Stage::Embeddings;
    }
    for block_prefix in ["encoder.layer.", "encoder.layers."] {
        if let Some(rest) = n.strip_prefix(block_prefix) {
            if let Some(i) = rest.split('.').next().and_then(|s| s.parse::<usize>().ok()) {
                return Stage::Block(i);
            }
        }
    }
    Stage::Top
}

/// The training switch of one backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreezeSpec {
    /// Train the backbone at all.
    pub train: bool,
    /// Number of leading blocks kept frozen (with the embeddings when > 0).
    pub frozen_blocks: usize,
}

impl FreezeSpec {
    /// Everything frozen.
    pub const FROZEN: FreezeSpec = FreezeSpec { train: false, frozen_blocks: 0 };

    /// Checks `frozen_blocks` against the model's `num_hidden_layers`.
    pub fn validate(&self, num_layers: usize, what: &str) -> Result<()> {
        if self.train && self.frozen_blocks > num_layers {
            bail!(
                "--freeze-blocks {}: the {what} has only {num_layers} blocks (num_hidden_layers)",
                self.frozen_blocks
            );
        }
        Ok(())
    }

    /// Whether tensor `name` is trained.
    pub fn is_trainable(&self, name: &str) -> bool {
        if !self.train {
            return false;
        }
        match stage_of(name) {
            Stage::Embeddings => self.frozen_blocks == 0,
            Stage::Block(i) => i >= self.frozen_blocks,
            Stage::Top => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_of_hf_names() {
        assert_eq!(stage_of("embeddings.cls_token"), Stage::Embeddings);
        assert_eq!(stage_of("vision_model.pre_layrnorm.weight"), Stage::Embeddings);
        assert_eq!(stage_of("encoder.layer.11.output.dense.weight"), Stage::Block(11));
        assert_eq!(stage_of("vision_model.encoder.layers.3.mlp.fc1.bias"), Stage::Block(3));
        assert_eq!(stage_of("bert.encoder.layer.0.attention.self.query.weight"), Stage::Block(0));
        assert_eq!(stage_of("layernorm.weight"), Stage::Top);
        assert_eq!(stage_of("visual_projection.weight"), Stage::Top);
    }

    #[test]
    fn freezing_two_blocks() {
        let f = FreezeSpec { train: true, frozen_blocks: 2 };
        assert!(!f.is_trainable("embeddings.position_embeddings"));
        assert!(!f.is_trainable("encoder.layer.1.output.dense.weight"));
        assert!(f.is_trainable("encoder.layer.2.output.dense.weight"));
        assert!(f.is_trainable("layernorm.bias"));
        let none = FreezeSpec { train: true, frozen_blocks: 0 };
        assert!(none.is_trainable("embeddings.position_embeddings"));
        assert!(!FreezeSpec::FROZEN.is_trainable("layernorm.bias"));
        assert!(f.validate(1, "image model").unwrap_err().to_string().contains("only 1 blocks"));
    }
}
