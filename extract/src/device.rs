//! Device and dtype selection for the `--device cpu|cuda|cuda:N` and `--dtype f32|bf16|f16` flags
//! of every binary (DESIGN.md section 7, issue 14). CUDA needs the crate's `cuda` cargo feature.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};

/// A parsed `--device` value, before any device is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    /// `cpu`.
    Cpu,
    /// `cuda` (ordinal 0), `gpu` (the same) or `cuda:N`.
    Cuda(usize),
}

/// Parses a device name (case-insensitive): `cpu`, `cuda`/`gpu` (ordinal 0) or `cuda:N`.
///
/// Errors when the name is none of these or N is not a non-negative integer. Opens nothing.
pub fn parse_device_name(name: &str) -> Result<DeviceName> {
    let name = name.trim().to_ascii_lowercase();
    match name.as_str() {
        "cpu" => Ok(DeviceName::Cpu),
        "cuda" | "gpu" => Ok(DeviceName::Cuda(0)),
        other => match other.strip_prefix("cuda:") {
            Some(n) => n
                .parse::<usize>()
                .map(DeviceName::Cuda)
                .with_context(|| format!("device {other:?}: expected cuda:N with N an integer")),
            None => bail!("unknown device {name:?}: expected cpu, cuda or cuda:N"),
        },
    }
}

/// Parses a device name (see [`parse_device_name`]) and opens the device.
///
/// Errors (never panics) when the name is unknown, when CUDA is asked for but this build has no
/// `cuda` feature, or when the CUDA device cannot be opened: no NVIDIA driver, no GPU, or an
/// ordinal past the number of GPUs. A `cuda` build still needs the driver's `libcuda.so.1` to
/// start at all (see README "GPU").
pub fn select_device(name: &str) -> Result<Device> {
    let ordinal = match parse_device_name(name)? {
        DeviceName::Cpu => return Ok(Device::Cpu),
        DeviceName::Cuda(n) => n,
    };
    if !candle_core::utils::cuda_is_available() {
        bail!("device {name:?} asked for, but this binary was built without the `cuda` feature (cargo build --features cuda)");
    }
    Device::new_cuda(ordinal).map_err(|e| {
        // candle appends a backtrace to CUDA errors: keep the message line only.
        let e = e.to_string();
        let cause = e.lines().next().unwrap_or_default();
        anyhow::anyhow!(
            "no CUDA device {ordinal}: the NVIDIA driver found no usable GPU with that ordinal \
             (`nvidia-smi -L` lists the GPUs): {cause}"
        )
    })
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
        assert_eq!(parse_device_name(" Cuda ").unwrap(), DeviceName::Cuda(0));
        assert_eq!(parse_device_name("gpu").unwrap(), DeviceName::Cuda(0));
        assert_eq!(parse_device_name("cuda:3").unwrap(), DeviceName::Cuda(3));
        assert!(parse_device_name("cuda:-1").is_err());
        assert!(parse_device_name("cuda:").is_err());
        assert!(parse_device_name("cuda1").is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_an_error() {
        let err = select_device("cuda:1").unwrap_err().to_string();
        assert!(err.contains("without the `cuda` feature"), "{err}");
        assert_eq!(parse_dtype("bf16").unwrap(), DType::BF16);
        assert_eq!(parse_dtype("F16").unwrap(), DType::F16);
        assert!(parse_dtype("int8").is_err());
    }
}
