//! Matrix-product rates on the CPU at the CLIP ViT-B/16 encoder's shapes (4 images of 197
//! tokens = 788 rows; hidden 768, the fused q/k/v 2304, the MLP 3072): GFLOP/s (2·m·k·n per
//! product) of the f32 `gemm` crate (the f32 host path) and of the bf16 x bf16 -> f32 kernel of
//! `marnet_extract::kernels` on each of its kernels this CPU has (AMX tiles, AVX-512 BF16
//! registers), including rounding the activations to bf16 (which a layer pays per call; its
//! weights are packed once at load), on 1 and 2 rayon threads.
//!
//! `cargo run --release -p marnet-extract --example bench_bf16_gemm -- [--reps R]`

use anyhow::{bail, Result};
use marnet_data::fast_math::gemm_parallelism;
use marnet_extract::kernels::bf16::{available_kernels, matmul_acc_on, Bf16Kernel, PackedA, PackedB};
use marnet_extract::kernels::has_avx512_bf16;
use std::time::Instant;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Best seconds of `reps` runs of `f` after one warm-up.
fn best(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn f32_gemm(x: &[f32], w: &[f32], y: &mut [f32], (m, k, n): (usize, usize, usize)) {
    // SAFETY: x (m, k), w (k, n), y (m, n) row-major with exactly those lengths (built below).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            y.as_mut_ptr(),
            1,
            n as isize,
            true,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            1,
            n as isize,
            1f32,
            1f32,
            false,
            false,
            false,
            gemm_parallelism(),
        );
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(i) => args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(5),
        None => 5,
    };
    if !has_avx512_bf16() {
        bail!("this CPU has no AVX-512 BF16 (avx512bf16): the bf16 kernel would run its portable loops");
    }
    let kernels: Vec<Bf16Kernel> = available_kernels().into_iter().filter(|k| *k != Bf16Kernel::Portable).collect();
    println!("kernels: {kernels:?}; GFLOP/s, best of {reps}; bf16 columns include rounding A");
    println!(
        "threads  m x k x n           f32 gemm  {}",
        kernels.iter().map(|k| format!("{:>10}", format!("{k:?}"))).collect::<String>()
    );
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        pool.install(|| {
            for (m, k, n) in [(788, 768, 2304), (788, 768, 3072), (788, 3072, 768), (788, 768, 768)] {
                let (x, w) = (values(m * k, 1), values(k * n, 2));
                let mut y = vec![0f32; m * n];
                let flop = 2.0 * (m * k * n) as f64 / 1e9;
                let t32 = best(reps, || f32_gemm(&x, &w, &mut y, (m, k, n)));
                let b = PackedB::from_rows(&w, k, n);
                let rates: String = kernels
                    .iter()
                    .map(|&kernel| {
                        let t = best(reps, || matmul_acc_on(kernel, &PackedA::from_rows(&x, m, k), &b, &mut y));
                        format!("{:>10.1}", flop / t)
                    })
                    .collect();
                println!("{threads:>7}  {m:>4} x {k:>4} x {n:>4}  {:>9.1}  {rates}", flop / t32);
            }
        });
    }
    Ok(())
}
