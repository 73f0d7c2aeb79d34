//! The arithmetic of the heads' Linear products (config key `precision`): `f32`, or `bf16`
//! inputs with f32 accumulation (the rounding PyTorch's CPU `autocast(dtype=torch.bfloat16)`
//! applies to `nn.Linear`), on the bf16 kernel of [`marnet_extract::kernels`].
//!
//! Only the products change: weights, gradients, AdamW state, activations, losses and softmax
//! stay f32 (master weights in f32, as mixed-precision training keeps them). The precision is
//! scoped to the calling thread by [`with_precision`], which the trainer wraps around each
//! training step (forward and backward); evaluation, sampling and prediction run f32. Each
//! Linear op reads the precision when it is built, so its backward uses the same arithmetic as
//! its forward wherever autograd runs it.

use std::cell::Cell;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Arithmetic of the Linear layers' matrix products while training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 inputs and accumulation (`gemm`).
    #[default]
    F32,
    /// Inputs rounded to bf16 (to nearest, ties to even), products accumulated in f32.
    Bf16,
}

/// With this variable set to `1`, `bf16` also runs on CPUs without AVX-512 BF16: the rounded
/// operands go through the f32 gemm (same arithmetic, no speed gain), for checking the numerics.
pub const ALLOW_PORTABLE_ENV: &str = "MARNET_BF16_PORTABLE";

impl Precision {
    /// The name in config files: `f32` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// `self == F32` (serde's `skip_serializing_if` takes a reference).
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// Whether this CPU runs `self` at speed. Errors, in one line, for `bf16` on a CPU without
    /// AVX-512 BF16 (`avx512_bf16`), unless [`ALLOW_PORTABLE_ENV`] is `1`.
    pub fn check_supported(self) -> Result<()> {
        let portable_allowed = std::env::var(ALLOW_PORTABLE_ENV).is_ok_and(|v| v == "1");
        if self == Precision::Bf16 && !marnet_extract::kernels::has_avx512_bf16() && !portable_allowed {
            bail!(
                "precision = \"bf16\" needs a CPU with AVX-512 BF16 (avx512_bf16), which this CPU lacks; use \
                 precision = \"f32\" (or {ALLOW_PORTABLE_ENV}=1 to check its numerics at f32 speed)"
            );
        }
        Ok(())
    }
}

thread_local! {
    static CURRENT: Cell<Precision> = const { Cell::new(Precision::F32) };
}

/// The precision Linear ops built on this thread use now ([`Precision::F32`] outside
/// [`with_precision`]).
pub fn current() -> Precision {
    CURRENT.with(Cell::get)
}

/// Runs `f` with Linear products in `precision` on this thread; the previous precision is
/// restored afterwards, also when `f` panics.
pub fn with_precision<T>(precision: Precision, f: impl FnOnce() -> T) -> T {
    struct Restore(Precision);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(precision)));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore() {
        assert_eq!(current(), Precision::F32);
        with_precision(Precision::Bf16, || {
            assert_eq!(current(), Precision::Bf16);
            with_precision(Precision::F32, || assert_eq!(current(), Precision::F32));
            assert_eq!(current(), Precision::Bf16);
        });
        assert_eq!(current(), Precision::F32);
        let caught = std::panic::catch_unwind(|| with_precision(Precision::Bf16, || panic!("inside")));
        assert!(caught.is_err());
        assert_eq!(current(), Precision::F32, "restored after a panic");
    }

    #[test]
    fn names_parse_from_toml() {
        #[derive(Deserialize)]
        struct P {
            precision: Precision,
        }
        let p: P = toml::from_str("precision = \"bf16\"").expect("bf16 parses");
        assert_eq!((p.precision, p.precision.name()), (Precision::Bf16, "bf16"));
        let err = toml::from_str::<P>("precision = \"fp16\"").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("f32") && err.contains("bf16"), "error lists the choices: {err}");
    }

    #[test]
    fn bf16_is_refused_exactly_where_the_cpu_lacks_avx512_bf16() {
        assert!(Precision::F32.check_supported().is_ok());
        if std::env::var(ALLOW_PORTABLE_ENV).is_err() {
            let has = marnet_extract::kernels::has_avx512_bf16();
            let r = Precision::Bf16.check_supported();
            assert_eq!(r.is_ok(), has, "{r:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("avx512_bf16"), "{e}");
            }
        }
    }
}
