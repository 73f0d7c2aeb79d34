//! t-SNE wrapper (heads/src/tsne.rs): separation of well separated clusters, determinism per
//! seed, perplexity capping, input checks and the fig. 3 subset selection.

use marnet_heads::report::tsne::{effective_perplexity, select_subset, tsne_2d, TsneOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `per` points around each of `centers` (unit-variance Gaussian noise, Box–Muller), row-major.
fn blobs(centers: &[Vec<f32>], per: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for (c, center) in centers.iter().enumerate() {
        for _ in 0..per {
            for &m in center {
                let u1: f32 = 1.0 - rng.random::<f32>();
                let u2: f32 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
                data.push(m + z);
            }
            labels.push(c as u32);
        }
    }
    (data, labels)
}

/// Fraction of points whose nearest other point (2-D Euclidean) has the same label.
fn nn_agreement(points: &[[f32; 2]], labels: &[u32]) -> f64 {
    let mut same = 0;
    for i in 0..points.len() {
        let nearest = (0..points.len())
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let d = |j: usize| (points[i][0] - points[j][0]).powi(2) + (points[i][1] - points[j][1]).powi(2);
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        same += usize::from(labels[nearest] == labels[i]);
    }
    same as f64 / points.len() as f64
}

fn opts(seed: u64) -> TsneOptions {
    TsneOptions { perplexity: 10.0, epochs: 400, early_exaggeration: 12.0, seed }
}

#[test]
fn two_separated_gaussian_clusters_stay_separated() {
    // Centres 12 apart in 10-D with unit noise: the clusters do not touch in the input, so every
    // point's nearest neighbour in a faithful embedding has its own label.
    let dim = 10;
    let (data, labels) = blobs(&[vec![0.0; dim], vec![12.0 / (dim as f32).sqrt(); dim]], 40, 1);
    let y = tsne_2d(&data, dim, &opts(0)).unwrap();
    assert_eq!(y.len(), 80);
    let agree = nn_agreement(&y, &labels);
    assert!(agree > 0.95, "nearest-neighbour label agreement {agree}");
    // The two cluster means in 2-D must be further apart than the mean spread of either cluster.
    let mean = |c: u32| {
        let pts: Vec<&[f32; 2]> = y.iter().zip(&labels).filter(|(_, &l)| l == c).map(|(p, _)| p).collect();
        let m = [
            pts.iter().map(|p| p[0]).sum::<f32>() / pts.len() as f32,
            pts.iter().map(|p| p[1]).sum::<f32>() / pts.len() as f32,
        ];
        let spread =
            pts.iter().map(|p| ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2)).sqrt()).sum::<f32>() / pts.len() as f32;
        (m, spread)
    };
    let ((m0, s0), (m1, s1)) = (mean(0), mean(1));
    let gap = ((m0[0] - m1[0]).powi(2) + (m0[1] - m1[1]).powi(2)).sqrt();
    assert!(gap > s0 + s1, "gap {gap} vs spreads {s0} + {s1}");
}

#[test]
fn same_seed_gives_identical_embedding_and_other_seed_differs() {
    let (data, _) = blobs(&[vec![0.0; 5], vec![6.0; 5], vec![-6.0; 5]], 10, 7);
    let a = tsne_2d(&data, 5, &opts(3)).unwrap();
    let b = tsne_2d(&data, 5, &opts(3)).unwrap();
    assert_eq!(a, b, "same seed must give bit-identical coordinates");
    let c = tsne_2d(&data, 5, &opts(4)).unwrap();
    assert_ne!(a, c, "another seed must start from another initial embedding");
}

#[test]
fn perplexity_is_capped_to_a_third_of_the_other_points() {
    // (n - 1) / 3 by hand: 10 points -> 3, 31 points -> 10; a smaller request stays as is.
    assert_eq!(effective_perplexity(10, 30.0), 3.0);
    assert_eq!(effective_perplexity(31, 30.0), 10.0);
    assert_eq!(effective_perplexity(500, 30.0), 30.0);
    // 10 points with the default perplexity 30 run (capped) instead of panicking in the crate.
    let (data, _) = blobs(&[vec![0.0; 3], vec![8.0; 3]], 5, 2);
    let y = tsne_2d(&data, 3, &TsneOptions { epochs: 100, ..Default::default() }).unwrap();
    assert_eq!(y.len(), 10);
    assert!(y.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let o = TsneOptions::default();
    assert!(tsne_2d(&[0.0; 9], 3, &o).unwrap_err().to_string().contains("at least 4 points"));
    assert!(tsne_2d(&[0.0; 10], 3, &o).unwrap_err().to_string().contains("whole number of rows"));
    assert!(tsne_2d(&[0.0; 12], 0, &o).is_err());
    let mut nan = vec![0.5f32; 15];
    nan[7] = f32::NAN;
    assert!(tsne_2d(&nan, 3, &o).unwrap_err().to_string().contains("row 2"));
    assert!(tsne_2d(&[0.0; 12], 3, &TsneOptions { epochs: 0, ..o }).is_err());
}

#[test]
fn subset_takes_the_largest_classes_and_caps_rows_per_class() {
    // Class sizes: 0 -> 1, 1 -> 2, 2 -> 3, 3 -> 1. Two classes: 2 then 1. Two rows each, in
    // input order: class 2 at rows 3 and 4 (row 5 dropped), class 1 at rows 1 and 2.
    let labels = [0, 1, 1, 2, 2, 2, 3];
    assert_eq!(select_subset(&labels, 2, 2), vec![1, 2, 3, 4]);
    // Ties (classes 0 and 3 both have 1 row) go to the lower class index: classes 2, 1, 0.
    assert_eq!(select_subset(&labels, 3, 5), vec![0, 1, 2, 3, 4, 5]);
}
