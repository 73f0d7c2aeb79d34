//! One metric (e.g. val top-1 of every sweep run) per value of one swept key: every run as a
//! dot, the mean per value as a line.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::{draw_legend, padded_range, palette, plot_err, render_png, FONT};

/// Size of the metric-by-key plot in pixels.
pub const BY_KEY_SIZE: (u32, u32) = (900, 560);

/// Draws `groups` (one per value of the key `key`, in the given order) on a categorical x axis
/// and writes a PNG of [`BY_KEY_SIZE`].
///
/// `groups`: `(value label, metric of every run with that value)`, e.g. `("256", [71.2, 70.8])`;
/// `y_label` names the metric and unit, e.g. "val top-1 (%)". Non-finite metrics are skipped.
///
/// # Errors
/// No group has a finite value, drawing fails or `path` cannot be written.
pub fn plot_metric_by_key(path: &Path, key: &str, groups: &[(String, Vec<f64>)], y_label: &str) -> Result<()> {
    if groups.iter().all(|(_, v)| !v.iter().any(|x| x.is_finite())) {
        bail!("plot of {y_label} by '{key}': no finite value");
    }
    let (y0, y1) = padded_range(groups.iter().flat_map(|(_, v)| v.iter().copied()));
    let n = groups.len();
    let labels: Vec<String> = groups.iter().map(|(l, _)| l.clone()).collect();
    let means: Vec<Option<f64>> = groups
        .iter()
        .map(|(_, v)| {
            let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
            (!f.is_empty()).then(|| f.iter().sum::<f64>() / f.len() as f64)
        })
        .collect();

    render_png(path, BY_KEY_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{y_label} by {key}"), (FONT, 24))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(64)
            // plotters treats an integer range as inclusive: 0..n-1 gives n slots.
            .build_cartesian_2d((0..n - 1).into_segmented(), y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(key)
            .y_desc(y_label)
            .x_labels(n.max(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        let runs = palette(0);
        let dots = groups.iter().enumerate().flat_map(|(i, (_, v))| {
            v.iter()
                .filter(|x| x.is_finite())
                .map(move |&y| Circle::new((SegmentValue::CenterOf(i), y), 4, runs.mix(0.6).filled()))
        });
        chart
            .draw_series(dots)
            .map_err(plot_err)?
            .label("run")
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, runs.filled()));
        let mean_color = palette(3);
        let line: Vec<(SegmentValue<usize>, f64)> =
            means.iter().enumerate().filter_map(|(i, m)| m.map(|m| (SegmentValue::CenterOf(i), m))).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), mean_color.stroke_width(2)))
            .map_err(plot_err)?
            .label("mean")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], mean_color.stroke_width(3)));
        let marks = line.into_iter().map(|p| Cross::new(p, 7, mean_color.stroke_width(2)));
        chart.draw_series(marks).map_err(plot_err)?;
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 15)?;
        Ok(())
    })
}
