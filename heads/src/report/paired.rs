//! Paired per-seed differences with a 95 % confidence interval: "does a mode
//! beat `baseline`?" answered with error bars.
//!
//! Runs with the same seed share the split, the shuffling order and the initialisation stream,
//! so the difference `d_i = a_i − b_i` of two modes is paired by seed. The interval is Student's
//! t: `mean(d) ± t_{0.975, n−1} · sd(d) / √n` (sample sd, n − 1 in the denominator). With three
//! seeds `t_{0.975, 2} = 4.303`, so an interval above 0 needs a difference that is consistent
//! across seeds, not only a good mean.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A mode's paired differences to `baseline` (same seeds), in percent points of top-1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VsBaseline {
    /// Val top-1 of the mode minus the baseline's.
    pub val: PairedDiff,
    /// Test top-1 of the mode minus the baseline's.
    pub test: PairedDiff,
}

/// A paired difference `a − b` over the seeds both have, in the units of the inputs (percent
/// points for accuracies).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDiff {
    /// Mean of the per-seed differences.
    pub mean: f64,
    /// Lower end of the 95 % confidence interval (NaN with one pair).
    pub lo: f64,
    /// Upper end of the 95 % confidence interval (NaN with one pair).
    pub hi: f64,
    /// Number of pairs (seeds present in both).
    pub n: usize,
}

impl PairedDiff {
    /// `+1.23 [−0.40, +2.86]`, or `+1.23` with a single pair.
    pub fn label(&self) -> String {
        if self.n < 2 {
            format!("{:+.2}", self.mean)
        } else {
            format!("{:+.2} [{:+.2}, {:+.2}]", self.mean, self.lo, self.hi)
        }
    }

    /// True when the whole interval lies above 0 (needs at least two pairs).
    pub fn above_zero(&self) -> bool {
        self.n >= 2 && self.lo > 0.0
    }
}

/// Two-sided 95 % quantile `t_{0.975, df}` of Student's t distribution (`df >= 1`).
pub fn t_975(df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df.max(1) as f64) {
        Ok(t) => t.inverse_cdf(0.975),
        Err(_) => f64::NAN,
    }
}

/// The paired difference `a − b` over the seeds present in both `a` and `b` (`(seed, value)`
/// pairs, any order); `None` when they share no seed.
pub fn paired_diff(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<PairedDiff> {
    let d: Vec<f64> =
        a.iter().filter_map(|(seed, va)| b.iter().find(|(s, _)| s == seed).map(|(_, vb)| va - vb)).collect();
    if d.is_empty() {
        return None;
    }
    let n = d.len();
    let mean = d.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Some(PairedDiff { mean, lo: f64::NAN, hi: f64::NAN, n });
    }
    let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let half = t_975(n - 1) * sd / (n as f64).sqrt();
    Some(PairedDiff { mean, lo: mean - half, hi: mean + half, n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_printed_table() {
        // Student's t table, two-sided 95 % (e.g. NIST/SEMATECH e-Handbook, table 1.4.2.7.2).
        for (df, t) in [(1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042)] {
            assert!((t_975(df) - t).abs() < 1e-3, "df {df}: {} vs {t}", t_975(df));
        }
    }

    #[test]
    fn three_seeds_by_hand() {
        // d = (3, 1, 2) - (1, 0, 0) = (2, 1, 2): mean 5/3, sd = sqrt(((1/3)² + (2/3)² + (1/3)²)/2)
        // = sqrt(1/3) = 0.57735; half width = 4.3027 · 0.57735 / sqrt(3) = 1.43423.
        let a = [(0, 3.0), (1, 1.0), (2, 2.0)];
        let b = [(2, 0.0), (0, 1.0), (1, 0.0)];
        let p = paired_diff(&a, &b).unwrap();
        assert_eq!(p.n, 3);
        assert!((p.mean - 5.0 / 3.0).abs() < 1e-12);
        assert!((p.lo - (5.0 / 3.0 - 1.43423)).abs() < 1e-4, "{p:?}");
        assert!((p.hi - (5.0 / 3.0 + 1.43423)).abs() < 1e-4, "{p:?}");
        assert!(p.above_zero());
        assert_eq!(p.label(), "+1.67 [+0.23, +3.10]");
    }

    #[test]
    fn pairs_only_shared_seeds_and_one_pair_has_no_interval() {
        let p = paired_diff(&[(0, 5.0), (7, 9.0)], &[(7, 8.0), (3, 1.0)]).unwrap();
        assert_eq!(p.n, 1);
        assert_eq!(p.mean, 1.0);
        assert!(p.lo.is_nan() && !p.above_zero());
        assert_eq!(p.label(), "+1.00");
        assert!(paired_diff(&[(0, 1.0)], &[(1, 1.0)]).is_none());
    }
}
