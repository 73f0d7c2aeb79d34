//! Per-epoch curves (training loss, val top-1) for one or more modes, one coloured line each.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::{draw_legend, padded_range, palette, plot_err, render_png, FONT};

/// Size of a curve plot in pixels.
pub const CURVES_SIZE: (u32, u32) = (900, 560);

/// Draws one line per series of `(epoch, value)` points and writes a PNG of [`CURVES_SIZE`].
///
/// `series`: `(name, points)`, where `name` is shown in the legend (e.g. the mode "fusion") and
/// `points` are `(epoch, value)` with epochs counted from 1; non-finite values are skipped.
/// `y_label` names the value and its unit, e.g. "val top-1 (%)".
///
/// # Errors
/// No series has a finite point, drawing fails or `path` cannot be written.
pub fn plot_curves(path: &Path, title: &str, series: &[(String, Vec<(usize, f64)>)], y_label: &str) -> Result<()> {
    let finite = |s: &(String, Vec<(usize, f64)>)| {
        s.1.iter().filter(|(_, v)| v.is_finite()).map(|&(e, v)| (e, v)).collect::<Vec<_>>()
    };
    let cleaned: Vec<(String, Vec<(usize, f64)>)> = series.iter().map(|s| (s.0.clone(), finite(s))).collect();
    if cleaned.iter().all(|(_, pts)| pts.is_empty()) {
        bail!("plot '{title}': no finite points to draw");
    }
    let max_epoch = cleaned.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.0)).max().unwrap_or(1).max(1);
    let min_epoch =
        cleaned.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.0)).min().unwrap_or(0).min(max_epoch.saturating_sub(1));
    let (y0, y1) = padded_range(cleaned.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.1)));
    // Put the legend where the curves are not: bottom right for rising curves (accuracy), top
    // right for falling ones (loss).
    let rising =
        cleaned.iter().filter(|(_, pts)| pts.len() >= 2).map(|(_, pts)| pts[pts.len() - 1].1 - pts[0].1).sum::<f64>()
            > 0.0;
    let legend_at = if rising { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperRight };

    render_png(path, CURVES_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 24))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(min_epoch as f64..max_epoch as f64, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_label)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        for (i, (name, pts)) in cleaned.iter().enumerate() {
            if pts.is_empty() {
                continue;
            }
            let color = palette(i);
            let line = pts.iter().map(|&(e, v)| (e as f64, v));
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3)));
            if pts.len() <= 60 {
                let marks = pts.iter().map(|&(e, v)| Circle::new((e as f64, v), 3, color.filled()));
                chart.draw_series(marks).map_err(plot_err)?;
            }
        }
        draw_legend(&mut chart, legend_at, 15)?;
        Ok(())
    })
}
