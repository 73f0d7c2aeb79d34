//! Device and dtype selection for the `--device cpu|cuda|cuda:N` and `--dtype f32|bf16|f16` flags
//! of every binary (DESIGN.md section 7; docs/gpu.md). CUDA needs the crate's `cuda` cargo feature.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};

/// A parsed `--device` value, before any device is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceName {
    /// `cpu`.
    Cpu,
    /// `cuda` (ordinal 0), `gpu` (the same) or `cuda:N`.
    Cuda(usize),
}

/// Parses a device name (case-insensitive): `cpu`, `cuda`/`gpu` (ordinal 0) or `cuda:N`/`gpu:N`.
///
/// Errors when the name is none of these or N is not a non-negative integer; the error quotes the
/// name as given. Opens nothing.
pub fn parse_device_name(name: &str) -> Result<DeviceName> {
    let given = name.trim();
    let lower = given.to_ascii_lowercase();
    match lower.as_str() {
        "cpu" => Ok(DeviceName::Cpu),
        "cuda" | "gpu" => Ok(DeviceName::Cuda(0)),
        other => match other.strip_prefix("cuda:").or_else(|| other.strip_prefix("gpu:")) {
            Some(n) => n
                .parse::<usize>()
                .map(DeviceName::Cuda)
                .with_context(|| format!("device {given:?}: expected cuda:N with N an integer")),
            None => bail!("unknown device {given:?}: expected cpu, cuda or cuda:N"),
        },
    }
}

/// Parses a device name (see [`parse_device_name`]) and opens the device.
///
/// Errors (never panics) when the name is unknown, when CUDA is asked for but this build has no
/// `cuda` feature, when the CUDA device cannot be opened (no NVIDIA driver, no GPU, or an ordinal
/// past the number of GPUs), or when candle's kernels do not load on it (a driver older than the
/// toolkit that compiled them; see [`explain_kernel_error`]). A `cuda` build still needs the
/// driver's `libcuda.so.1` to start at all (see docs/gpu.md).
pub fn select_device(name: &str) -> Result<Device> {
    let ordinal = match parse_device_name(name)? {
        DeviceName::Cpu => return Ok(Device::Cpu),
        DeviceName::Cuda(n) => n,
    };
    if !candle_core::utils::cuda_is_available() {
        bail!(
            "device {:?} asked for, but this binary was built without the `cuda` feature: `just build-cuda` \
             builds one into target/cuda/release (docs/gpu.md)",
            name.trim()
        );
    }
    let device = Device::new_cuda(ordinal).map_err(|e| {
        anyhow::anyhow!(
            "no CUDA device {ordinal}: the NVIDIA driver found no usable GPU with that ordinal \
             (`nvidia-smi -L` lists the GPUs): {}",
            first_line(&e.to_string())
        )
    })?;
    // The first kernel launch loads candle's PTX; do it here so that a driver too old for it is
    // reported once, with the fix, instead of deep inside the first forward pass.
    Tensor::ones(4, DType::F32, &device)
        .and_then(|t| t.affine(2.0, 1.0))
        .map_err(|e| anyhow::anyhow!(explain_kernel_error(ordinal, &e.to_string())))?;
    Ok(device)
}

/// The CUDA toolkit whose PTX a `cuda` build carries (scripts/setup-cuda.sh pins it) and the
/// oldest driver branch that loads that PTX.
pub const CUDA_TOOLKIT: &str = "13.0";
/// See [`CUDA_TOOLKIT`]: NVIDIA's driver 580 is the first of CUDA 13.0.
pub const MIN_DRIVER: u32 = 580;

/// The compute capability candle's kernels were compiled for (`CUDA_COMPUTE_CAP` when this crate
/// was built, as `scripts/setup-cuda.sh` sets it; `None` when the build left it to candle).
pub const BUILT_COMPUTE_CAP: Option<&str> = option_env!("CUDA_COMPUTE_CAP");

/// The message for a kernel that failed to load on CUDA device `ordinal`, from candle's error text
/// `cause`. Two causes get their fix named: a driver older than the toolkit
/// (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`, "the provided PTX was compiled with an unsupported
/// toolchain", huggingface/candle#1846), and kernels compiled for another GPU generation
/// (`CUDA_ERROR_INVALID_PTX`, `CUDA_ERROR_NO_BINARY_FOR_GPU`, `CUDA_ERROR_INVALID_IMAGE`: PTX for
/// `sm_90a` runs on compute capability 9.0 only).
pub fn explain_kernel_error(ordinal: usize, cause: &str) -> String {
    explain_kernel_error_for(ordinal, cause, BUILT_COMPUTE_CAP)
}

fn explain_kernel_error_for(ordinal: usize, cause: &str, built_cap: Option<&str>) -> String {
    let cause = first_line(cause);
    if cause.contains("UNSUPPORTED_PTX_VERSION") || cause.contains("unsupported toolchain") {
        format!(
            "CUDA device {ordinal}: the NVIDIA driver is older than CUDA {CUDA_TOOLKIT}, which \
             compiled this binary's kernels: update the driver to {MIN_DRIVER} or newer (`nvidia-smi` \
             shows its version), or build with a CUDA toolkit no newer than the driver: {cause}"
        )
    } else if ["INVALID_PTX", "NO_BINARY_FOR_GPU", "INVALID_IMAGE"].iter().any(|c| cause.contains(c)) {
        let built =
            built_cap.map_or_else(|| "CUDA_COMPUTE_CAP unknown".to_string(), |cap| format!("CUDA_COMPUTE_CAP={cap}"));
        format!(
            "CUDA device {ordinal}: this binary's kernels were compiled for another GPU generation \
             ({built}): rebuild with CUDA_COMPUTE_CAP set to this GPU's (`nvidia-smi \
             --query-gpu=compute_cap --format=csv`, 8.0 -> 80), e.g. `CUDA_COMPUTE_CAP=80 just \
             build-cuda`: {cause}"
        )
    } else {
        format!("CUDA device {ordinal} opened, but candle's kernels do not run on it: {cause}")
    }
}

/// candle appends a backtrace to CUDA errors: keep the message line only.
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
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
        assert_eq!(parse_device_name("GPU:2").unwrap(), DeviceName::Cuda(2));
        let err = parse_device_name("Cuda:x").unwrap_err().to_string();
        assert_eq!(err, "device \"Cuda:x\": expected cuda:N with N an integer");
    }

    #[test]
    fn a_driver_too_old_for_the_ptx_is_named() {
        // candle's error text as reported in huggingface/candle#1846 (driver older than nvcc).
        let cause = "DriverError(CUDA_ERROR_UNSUPPORTED_PTX_VERSION, \"the provided PTX was compiled \
                     with an unsupported toolchain.\") when loading affine_f32\nstack backtrace:\n 0: x";
        let msg = explain_kernel_error(1, cause);
        assert!(msg.starts_with("CUDA device 1: the NVIDIA driver is older than CUDA 13.0"), "{msg}");
        assert!(msg.contains("update the driver to 580 or newer"), "{msg}");
        assert!(msg.ends_with("when loading affine_f32"), "backtrace kept: {msg}");
        // sm_90a PTX on an A100 (compute capability 8.0).
        let arch = explain_kernel_error_for(
            0,
            "DriverError(CUDA_ERROR_INVALID_PTX, \"a PTX JIT compilation failed\")",
            Some("90"),
        );
        assert!(
            arch.starts_with(
                "CUDA device 0: this binary's kernels were compiled for another GPU generation (CUDA_COMPUTE_CAP=90)"
            ),
            "{arch}"
        );
        assert!(arch.contains("`CUDA_COMPUTE_CAP=80 just build-cuda`"), "{arch}");
        let other = explain_kernel_error(0, "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")");
        assert!(other.starts_with("CUDA device 0 opened, but candle's kernels do not run on it"), "{other}");
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
