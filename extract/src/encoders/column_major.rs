//! Linear weights in column-major layout, so candle's matmuls take gemm's fast path.
//!
//! `candle_nn::Linear` computes `x.matmul(&weight.t())`. With the HF layout `weight`
//! `(out, in)` row-major, that right-hand side is column-major, and candle's gemm runs such a
//! product at about 55 % of its row-major speed on this CPU (measured with f32 AVX-512, 2 threads,
//! `(256 × 1024) · (1024 × 1024)`: 4.6 ms against 2.6 ms). This backend hands every Linear
//! weight to the models as the transpose of a contiguous `(in, out)` tensor: same shape
//! `(out, in)`, same values, strides `(1, out)`; `weight.t()` is then contiguous and the
//! product row-major. Nothing in candle-transformers' ViT, CLIP or BERT code changes.
//!
//! Which tensors: 2-D tensors named `*.weight` whose name does not contain `embedding`
//! (embedding tables are read row by row with `index_select`; LayerNorm weights are 1-D and
//! convolution kernels 4-D).

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

/// Wraps a `VarBuilder`, re-laying out Linear weights as described in the module docs.
pub struct ColumnMajorLinears {
    source: VarBuilder<'static>,
}

impl ColumnMajorLinears {
    /// A `VarBuilder` over `source` whose Linear weights are column-major.
    pub fn var_builder(source: VarBuilder<'static>) -> VarBuilder<'static> {
        let (dtype, device) = (source.dtype(), source.device().clone());
        VarBuilder::from_backend(Box::new(ColumnMajorLinears { source }), dtype, device)
    }
}

/// Whether `name` (a full tensor name, e.g. `encoder.layer.0.attention.attention.query.weight`)
/// of a tensor with `rank` dimensions is a Linear weight.
pub fn is_linear_weight(name: &str, rank: usize) -> bool {
    rank == 2 && name.ends_with(".weight") && !name.contains("embedding")
}

/// `t` `(out, in)` → the same values with strides `(1, out)`.
fn column_major(t: Tensor) -> Result<Tensor> {
    t.t()?.contiguous()?.t()
}

impl SimpleBackend for ColumnMajorLinears {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, _dev: &Device) -> Result<Tensor> {
        let rank = s.rank();
        let t = self.source.get_with_hints_dtype(s, name, h, dtype)?;
        if is_linear_weight(name, rank) {
            column_major(t)
        } else {
            Ok(t)
        }
    }

    fn get_unchecked(&self, name: &str, dtype: DType, _dev: &Device) -> Result<Tensor> {
        let t = self.source.get_unchecked_dtype(name, dtype)?;
        if is_linear_weight(name, t.rank()) {
            column_major(t)
        } else {
            Ok(t)
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.source.contains_tensor(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::{linear, Module};
    use std::collections::HashMap;

    #[test]
    fn linear_weights_are_column_major_and_give_the_same_output() -> Result<()> {
        let dev = Device::Cpu;
        // weight (out 2, in 3) = [[1, 2, 3], [4, 5, 6]], bias [10, 20]; x = [[1, 0, -1]].
        // By hand: y = x·Wᵀ + b = [1 - 3 + 10, 4 - 6 + 20] = [8, 18].
        let mut tensors = HashMap::new();
        tensors.insert("fc.weight".to_string(), Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &dev)?);
        tensors.insert("fc.bias".to_string(), Tensor::new(&[10f32, 20.], &dev)?);
        tensors.insert("word_embeddings.weight".to_string(), Tensor::new(&[[1f32, 2.], [3., 4.]], &dev)?);
        let vb = ColumnMajorLinears::var_builder(VarBuilder::from_tensors(tensors, DType::F32, &dev));
        let w = vb.get((2, 3), "fc.weight")?;
        assert_eq!(w.stride(), &[1, 2], "Linear weight must be column-major");
        assert!(w.t()?.is_contiguous());
        assert_eq!(w.to_vec2::<f32>()?, vec![vec![1., 2., 3.], vec![4., 5., 6.]]);
        let emb = vb.get((2, 2), "word_embeddings.weight")?;
        assert!(emb.is_contiguous(), "embedding tables stay row-major");
        let fc = linear(3, 2, vb.pp("fc"))?;
        let y = fc.forward(&Tensor::new(&[[1f32, 0., -1.]], &dev)?)?;
        assert_eq!(y.to_vec2::<f32>()?, vec![vec![8., 18.]]);
        Ok(())
    }

    #[test]
    fn which_names_count_as_linear_weights() {
        assert!(is_linear_weight("encoder.layer.0.attention.attention.query.weight", 2));
        assert!(is_linear_weight("visual_projection.weight", 2));
        assert!(!is_linear_weight("embeddings.position_embedding.weight", 2));
        assert!(!is_linear_weight("embeddings.word_embeddings.weight", 2));
        assert!(!is_linear_weight("layernorm.weight", 1));
        assert!(!is_linear_weight("embeddings.patch_embeddings.projection.weight", 4));
        assert!(!is_linear_weight("encoder.layer.0.attention.attention.query.bias", 1));
    }
}
