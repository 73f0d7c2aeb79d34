//! `val_top1_curves.png` of a `[search]` study: every run's val top-1 against the epochs it has
//! trained (phase 1, then phase 2 counted on), one line per run; complete runs in blue, pruned
//! runs in red ending in a cross at the rung that stopped them.

use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::record::TrialRecord;
use crate::report::plots::{draw_legend, padded_range, palette, plot_err, render_png, FONT};

/// Size of the plot in pixels.
pub const CURVES_SIZE: (u32, u32) = (900, 560);

/// A run's curve as `(epochs trained so far, val top-1)`, epochs counted over every phase.
pub fn run_curve(r: &TrialRecord) -> Vec<(f64, f64)> {
    r.curve.iter().enumerate().map(|(i, p)| ((i + 1) as f64, p.val_top1)).filter(|(_, v)| v.is_finite()).collect()
}

/// Draws every record's curve (see the module docs) into a PNG at `path`.
///
/// # Errors
/// No record has a curve, or drawing or writing fails.
pub fn plot_trial_curves(path: &Path, records: &[TrialRecord]) -> Result<()> {
    let curves: Vec<(bool, Vec<(f64, f64)>)> =
        records.iter().map(|r| (r.is_pruned(), run_curve(r))).filter(|(_, c)| !c.is_empty()).collect();
    if curves.is_empty() {
        bail!("no run has a val curve to plot");
    }
    let max_x = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.0)).fold(1.0, f64::max);
    let (y0, y1) = padded_range(curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1)));
    let (complete, pruned) = (palette(0), palette(3));
    render_png(path, CURVES_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("val top-1 of every run against the epochs it trained", (FONT, 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.5..max_x + 0.5, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("trial-epochs spent")
            .y_desc("val top-1 (%)")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 17))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        let (mut labelled_complete, mut labelled_pruned) = (false, false);
        for (is_pruned, c) in &curves {
            let color = if *is_pruned { pruned } else { complete };
            let series = chart
                .draw_series(LineSeries::new(c.iter().copied(), color.mix(0.7).stroke_width(1)))
                .map_err(plot_err)?;
            let first = if *is_pruned {
                !std::mem::replace(&mut labelled_pruned, true)
            } else {
                !std::mem::replace(&mut labelled_complete, true)
            };
            if first {
                series
                    .label(if *is_pruned { "pruned (× where stopped)" } else { "complete" })
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3)));
            }
            if *is_pruned {
                if let Some(&end) = c.last() {
                    chart.draw_series(std::iter::once(Cross::new(end, 5, color.stroke_width(2)))).map_err(plot_err)?;
                }
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 15)?;
        Ok(())
    })
}
