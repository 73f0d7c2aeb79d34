//! Plots and report (heads/src/plots, heads/src/report.rs): every PNG exists, decodes, has the
//! documented size and is not blank; report.md holds the ablation table with hand-computed
//! values and links the plots.

use std::path::Path;

use marnet_heads::report::paired::{PairedDiff, VsBaseline};
use marnet_heads::report::plots::{plot_confidence_hist, plot_curves, plot_metric_by_key, plot_tsne_pair};
use marnet_heads::report::{write_report, CurveSet, FidelityRow, ReportInput, ReportRow, TsneInput};

/// Decodes the PNG at `path`, checks its size and returns the variance of its grey levels.
fn png_variance(path: &Path, size: (u32, u32)) -> f64 {
    let img = image::open(path).unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    assert_eq!((img.width(), img.height()), size, "size of {}", path.display());
    let grey = img.to_luma8();
    let px: Vec<f64> = grey.pixels().map(|p| p.0[0] as f64).collect();
    let mean = px.iter().sum::<f64>() / px.len() as f64;
    px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / px.len() as f64
}

/// Number of distinct RGB colours: coloured series must add colours beyond black/grey/white.
fn coloured_pixels(path: &Path) -> usize {
    let img = image::open(path).unwrap().to_rgb8();
    img.pixels()
        .filter(|p| {
            let [r, g, b] = p.0;
            r.max(g).max(b) - r.min(g).min(b) > 60
        })
        .count()
}

#[test]
fn curves_png_is_drawn_with_coloured_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loss.png");
    let series = vec![
        ("baseline".to_string(), (1..=10).map(|e| (e, 3.0 / e as f64)).collect()),
        ("fusion".to_string(), (1..=10).map(|e| (e, 2.5 / e as f64 + 0.1)).collect()),
    ];
    plot_curves(&path, "Training loss", &series, "loss").unwrap();
    assert!(png_variance(&path, (900, 560)) > 0.0);
    assert!(coloured_pixels(&path) > 200, "the two series should draw coloured pixels");
    // No leftover temporary file next to it.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["loss.png".to_string()]);
}

#[test]
fn curves_without_finite_points_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let series = vec![("x".to_string(), vec![(1, f64::NAN)])];
    let err = plot_curves(&dir.path().join("a.png"), "t", &series, "y").unwrap_err();
    assert!(err.to_string().contains("no finite points"), "{err}");
    assert!(!dir.path().join("a.png").exists());
}

#[test]
fn tsne_pair_png_has_both_panels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tsne.png");
    let labels: Vec<u32> = (0..50).map(|i| i % 5).collect();
    let left: Vec<[f32; 2]> =
        labels.iter().enumerate().map(|(i, &l)| [l as f32 * 10.0 + (i % 7) as f32, (i % 3) as f32]).collect();
    let right: Vec<[f32; 2]> = left.iter().map(|p| [p[1], -p[0]]).collect();
    let names: Vec<String> = ["apple", "bread", "curry", "dumpling", "egg"].map(String::from).to_vec();
    plot_tsne_pair(&path, &left, &right, &labels, &names).unwrap();
    assert!(png_variance(&path, (1400, 680)) > 0.0);
    // Colour appears in both halves (each panel has its own scatter).
    let img = image::open(&path).unwrap().to_rgb8();
    let coloured = |x0: u32, x1: u32| {
        (x0..x1)
            .flat_map(|x| (0..680).map(move |y| (x, y)))
            .filter(|&(x, y)| {
                let [r, g, b] = img.get_pixel(x, y).0;
                r.max(g).max(b) - r.min(g).min(b) > 60
            })
            .count()
    };
    assert!(coloured(0, 700) > 100 && coloured(700, 1400) > 100);
    assert!(plot_tsne_pair(&path, &left[..3], &right, &labels, &names).is_err());
}

#[test]
fn confidence_histogram_bins_by_hand_and_png() {
    // 20 bins of width 0.05: 0.0 and 0.04 -> bin 0, 0.05 -> bin 1, 0.99 and 1.0 -> bin 19.
    let h = marnet_heads::report::plots::confidence_histogram(&[0.0, 0.04, 0.05, 0.99, 1.0, f32::NAN]);
    assert_eq!(h.len(), 20);
    assert_eq!((h[0], h[1], h[19]), (40.0, 20.0, 40.0));
    assert_eq!(h.iter().sum::<f64>(), 100.0);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("confidence.png");
    let base: Vec<f32> = (0..200).map(|i| 0.3 + 0.5 * (i as f32 / 200.0)).collect();
    let cdr: Vec<f32> = (0..200).map(|i| 0.6 + 0.39 * (i as f32 / 200.0)).collect();
    plot_confidence_hist(&path, &base, &cdr).unwrap();
    assert!(png_variance(&path, (900, 560)) > 0.0);
    assert!(coloured_pixels(&path) > 500);
    assert!(plot_confidence_hist(&path, &[], &cdr).is_err());
}

#[test]
fn metric_by_key_png() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("by.png");
    let groups = vec![
        ("128".to_string(), vec![70.0, 71.0]),
        ("256".to_string(), vec![73.5, 72.0]),
        ("512".to_string(), vec![74.0]),
    ];
    plot_metric_by_key(&path, "d", &groups, "val top-1 (%)").unwrap();
    assert!(png_variance(&path, (900, 560)) > 0.0);
    assert!(coloured_pixels(&path) > 100);
    // A single value still draws; no finite value is an error.
    plot_metric_by_key(&path, "d", &groups[..1], "val top-1 (%)").unwrap();
    assert!(png_variance(&path, (900, 560)) > 0.0);
    assert!(plot_metric_by_key(&path, "d", &[("1".to_string(), vec![f64::NAN])], "y").is_err());
}

fn row(mode: &str, v1: f64, t1: f64) -> ReportRow {
    ReportRow {
        mode: mode.into(),
        val_top1: v1,
        val_top5: v1 + 10.0,
        test_top1: t1,
        test_top5: t1 + 10.0,
        std: None,
        seeds: 1,
        vs_baseline: None,
    }
}

#[test]
fn report_has_table_fidelity_config_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    // 5 classes x 8 test samples in 6-D, classes apart along one axis each.
    let labels: Vec<u32> = (0..40).map(|i| i / 8).collect();
    let x_v: Vec<f32> = labels
        .iter()
        .enumerate()
        .flat_map(|(i, &l)| (0..6).map(move |k| if k == l as usize { 5.0 } else { ((i * 7 + k) % 5) as f32 * 0.1 }))
        .collect();
    let mut fusion = row("fusion", 81.0, 80.25);
    fusion.std = Some([0.5, 0.25, 1.0, 0.2]);
    fusion.seeds = 3;
    // The paired differences come with the rows (computed by report::paired from per-seed runs).
    let diff = |mean: f64, lo: f64, hi: f64, n: usize| PairedDiff { mean, lo, hi, n };
    fusion.vs_baseline = Some(VsBaseline { val: diff(1.0, -0.5, 2.5, 3), test: diff(1.5, 0.2, 2.8, 3) });
    let mut ema = row("ema", 80.5, 79.0);
    ema.vs_baseline =
        Some(VsBaseline { val: diff(0.5, f64::NAN, f64::NAN, 1), test: diff(0.25, f64::NAN, f64::NAN, 1) });
    let input = ReportInput {
        title: "tiny".into(),
        rows: vec![row("baseline", 80.0, 78.75), ema, fusion],
        config_toml: "d = 512\nepochs = 50\n".into(),
        fidelity: vec![FidelityRow { source: "cdr".into(), val_cosine: 0.41234, val_mse: 0.98765 }],
        curves: vec![CurveSet {
            mode: "fusion".into(),
            train_loss: vec![(1, 2.0), (2, 1.5), (3, 1.2)],
            val_top1: vec![(1, 60.0), (2, 70.0), (3, 72.0)],
        }],
        tsne: Some(TsneInput { x_v: x_v.clone(), d_v: 6, x_cdr: x_v, d_cdr: 6, labels }),
        class_names: (0..5).map(|c| format!("food {c}")).collect(),
        confidence: Some((vec![0.5, 0.6, 0.7], vec![0.8, 0.9, 0.95])),
        notes: vec!["a note".into()],
        failed: vec![("cdr".into(), "training loss became NaN".into())],
        ..Default::default()
    };
    let out = write_report(dir.path(), &input).unwrap();
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    assert!(md_has(&out.report, "| cdr | | | **failed**: training loss became NaN | | | | | | | |"));
    let md = std::fs::read_to_string(&out.report).unwrap();
    // One pair shows the mean only; three pairs show the interval.
    assert!(
        md.contains("| ema | ✓ |  | EMA: ITA + CE on x_v' | 1 | 80.50 | 90.50 | 79.00 | 89.00 | +0.50 | +0.25 |"),
        "{md}"
    );
    assert!(md.contains("| fusion | ✓ | ✓ | EMA + CDR fused (full model) | 3 | 81.00 ± 0.50 | 91.00 ± 0.25 | 80.25 ± 1.00 | 90.25 ± 0.20 | +1.00 [-0.50, +2.50] | +1.50 [+0.20, +2.80] |"), "{md}");
    assert!(md.contains("| cdr | 0.4123 | 0.9877 |"), "{md}");
    assert!(md.contains("```toml\nd = 512\nepochs = 50\n```"), "{md}");
    assert!(md.contains("- a note"));
    for (file, size) in [
        ("loss.png", (900, 560)),
        ("val_top1.png", (900, 560)),
        ("tsne.png", (1400, 680)),
        ("confidence.png", (900, 560)),
    ] {
        assert!(md.contains(&format!("]({file})")), "{file} not linked");
        assert!(png_variance(&dir.path().join(file), size) > 0.0, "{file} blank");
    }
    assert_eq!(out.plots.len(), 4);
}

#[test]
fn report_notes_a_plot_it_cannot_draw() {
    let dir = tempfile::tempdir().unwrap();
    let input = ReportInput {
        rows: vec![row("baseline", 50.0, 49.0)],
        // 3 samples: too few for t-SNE.
        tsne: Some(TsneInput { x_v: vec![0.0; 6], d_v: 2, x_cdr: vec![1.0; 6], d_cdr: 2, labels: vec![0, 1, 2] }),
        ..Default::default()
    };
    let out = write_report(dir.path(), &input).unwrap();
    assert_eq!(out.skipped.len(), 1);
    assert!(!dir.path().join("tsne.png").exists());
    let md = std::fs::read_to_string(&out.report).unwrap();
    assert!(md.contains("not drawn: t-SNE needs at least 4 points"), "{md}");
}

fn md_has(path: &std::path::Path, needle: &str) -> bool {
    let md = std::fs::read_to_string(path).unwrap();
    md.contains(needle) || panic!("{needle} not in {md}")
}
