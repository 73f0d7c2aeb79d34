//! Histogram of top-1 confidences (max softmax probability) of two classifiers on the same
//! samples, as in the paper's fig. 4 (baseline against CDR).

use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::{draw_legend, palette, plot_err, render_png, FONT};

/// Size of the confidence histogram in pixels.
pub const CONFIDENCE_SIZE: (u32, u32) = (900, 560);

/// Number of equal-width bins over [0, 1].
pub const CONFIDENCE_BINS: usize = 20;

/// Share of values (percent) in each of [`CONFIDENCE_BINS`] bins over [0, 1]; 1.0 falls in the
/// last bin, values outside [0, 1] are clamped, non-finite values are ignored.
pub fn confidence_histogram(values: &[f32]) -> Vec<f64> {
    let mut counts = vec![0usize; CONFIDENCE_BINS];
    let mut n = 0usize;
    for &v in values.iter().filter(|v| v.is_finite()) {
        let b = ((v.clamp(0.0, 1.0) as f64) * CONFIDENCE_BINS as f64) as usize;
        counts[b.min(CONFIDENCE_BINS - 1)] += 1;
        n += 1;
    }
    counts.into_iter().map(|c| if n == 0 { 0.0 } else { 100.0 * c as f64 / n as f64 }).collect()
}

/// Draws the two confidence distributions as overlapping translucent histograms and writes a
/// PNG of [`CONFIDENCE_SIZE`].
///
/// `baseline_top1_conf` and `cdr_top1_conf`: the top-1 softmax probability per test sample, in
/// [0, 1] (the two slices may differ in length).
///
/// # Errors
/// Either slice has no finite value, drawing fails or `path` cannot be written.
pub fn plot_confidence_hist(path: &Path, baseline_top1_conf: &[f32], cdr_top1_conf: &[f32]) -> Result<()> {
    let named = [("baseline", baseline_top1_conf), ("CDR", cdr_top1_conf)];
    for (name, v) in named {
        if !v.iter().any(|x| x.is_finite()) {
            bail!("confidence histogram: no finite {name} confidence");
        }
    }
    let hists: Vec<Vec<f64>> = named.iter().map(|(_, v)| confidence_histogram(v)).collect();
    let y_max = hists.iter().flatten().fold(0.0f64, |a, &b| a.max(b)) * 1.1;
    let mean = |v: &[f32]| {
        let f: Vec<f64> = v.iter().filter(|x| x.is_finite()).map(|&x| x as f64).collect();
        f.iter().sum::<f64>() / f.len() as f64
    };

    render_png(path, CONFIDENCE_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Top-1 confidence on the test split", (FONT, 24))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0f64..1.0f64, 0.0f64..y_max.max(1.0))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("top-1 softmax probability")
            .y_desc("share of samples (%)")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        let width = 1.0 / CONFIDENCE_BINS as f64;
        for (i, ((name, values), hist)) in named.iter().zip(&hists).enumerate() {
            let color = palette(i);
            let bars = hist.iter().enumerate().map(|(b, &h)| {
                let x0 = b as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, h)], color.mix(0.45).filled())
            });
            chart
                .draw_series(bars)
                .map_err(plot_err)?
                .label(format!("{name} (mean {:.3})", mean(values)))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled()));
            let outline = hist.iter().enumerate().map(|(b, &h)| {
                let x0 = b as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, h)], color.stroke_width(1))
            });
            chart.draw_series(outline).map_err(plot_err)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 15)?;
        Ok(())
    })
}
