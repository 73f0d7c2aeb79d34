//! Device and dtype selection for the `--device cpu|cuda` and `--dtype f32|bf16|f16` flags
//! (DESIGN.md section 7). CUDA needs the crate's `cuda` cargo feature.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};

/// Parses a device name: `cpu`, `cuda` (ordinal 0) or `cuda:N`.
///
/// Errors when the name is unknown, or when CUDA is asked for but this build has no `cuda`
/// feature or no usable GPU.
pub fn select_device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match name.as_str() {
        "cuda" | "gpu" => 0,
        other => match other.strip_prefix("cuda:") {
            Some(n) => n
                .parse::<usize>()
                .with_context(|| format!("device {other:?}: expected cuda:N with N an integer"))?,
            None => bail!("unknown device {name:?}: expected cpu, cuda or cuda:N"),
        },
    };
    if !candle_core::utils::cuda_is_available() {
        bail!("device {name:?} asked for, but this binary was built without the `cuda` feature (cargo build --features cuda)");
    }
    Device::new_cuda(ordinal).with_context(|| format!("cannot open CUDA device {ordinal}"))
}

/// Parses a dtype name: `f32`, `bf16` or `f16` (case-insensitive). Weights and activations use
/// it; encoder outputs are always converted back to f32.
pub fn parse_dtype(name: &str) -> Result<DType> {
    match name.trim().to_ascii_lowercase().as_str() {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        "f16" | "float16" | "half" => Ok(DType::F16),
        other => bail!("unknown dtype {other:?}: expected f32, bf16 or f16"),
    }
}

/// The name `parse_dtype` accepts for `dtype` (`f32`, `bf16`, `f16`), for metadata.
pub fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        DType::F64 => "f64",
        _ => "f32",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert!(matches!(select_device("CPU").unwrap(), Device::Cpu));
        assert!(select_device("tpu").is_err());
        assert_eq!(parse_dtype("bf16").unwrap(), DType::BF16);
        assert_eq!(parse_dtype("F16").unwrap(), DType::F16);
        assert!(parse_dtype("int8").is_err());
    }
}
