//! Two t-SNE scatter panels side by side, coloured by class: x_v (left) and x_CDR (right), the
//! layout of the paper's fig. 3.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Result};
use plotters::prelude::*;

use super::{draw_legend, padded_range, palette, plot_err, render_png, FONT};

/// Size of the t-SNE pair plot in pixels.
pub const TSNE_PAIR_SIZE: (u32, u32) = (1400, 680);

/// Panel titles of [`plot_tsne_pair`].
pub const TSNE_PAIR_TITLES: (&str, &str) = ("x_v (image feature)", "x_CDR (generated text feature)");

/// Draws the 2-D embeddings `left` (of x_v) and `right` (of x_CDR) as two scatter panels and
/// writes a PNG of [`TSNE_PAIR_SIZE`].
///
/// `left` and `right`: one `[x, y]` per sample, both `(n, 2)` in the same sample order;
/// `labels`: `n` class indices into `class_names`, which gives the legend text (an index past
/// its end is shown as "class <i>").
///
/// # Errors
/// Lengths differ, `n == 0`, drawing fails or `path` cannot be written.
pub fn plot_tsne_pair(
    path: &Path,
    left: &[[f32; 2]],
    right: &[[f32; 2]],
    labels: &[u32],
    class_names: &[String],
) -> Result<()> {
    if left.len() != labels.len() || right.len() != labels.len() {
        bail!(
            "t-SNE plot: {} left points, {} right points and {} labels must have the same length",
            left.len(),
            right.len(),
            labels.len()
        );
    }
    if labels.is_empty() {
        bail!("t-SNE plot: no points");
    }
    let classes: Vec<u32> = labels.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let name_of = |c: u32| class_names.get(c as usize).cloned().unwrap_or_else(|| format!("class {c}"));

    render_png(path, TSNE_PAIR_SIZE, |root| {
        let (left_area, right_area) = root.split_horizontally(TSNE_PAIR_SIZE.0 / 2);
        let panels = [(left_area, left, TSNE_PAIR_TITLES.0, false), (right_area, right, TSNE_PAIR_TITLES.1, true)];
        for (area, pts, title, with_legend) in panels {
            let (x0, x1) = padded_range(pts.iter().map(|p| p[0] as f64));
            let (y0, y1) = padded_range(pts.iter().map(|p| p[1] as f64));
            let mut chart = ChartBuilder::on(&area)
                .caption(title, (FONT, 22))
                .margin(16)
                .x_label_area_size(30)
                .y_label_area_size(44)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(plot_err)?;
            chart
                .configure_mesh()
                .label_style((FONT, 13))
                .light_line_style(RGBColor(240, 240, 240))
                .draw()
                .map_err(plot_err)?;
            for (ci, &class) in classes.iter().enumerate() {
                let color = palette(ci);
                let dots = pts
                    .iter()
                    .zip(labels)
                    .filter(|(_, &l)| l == class)
                    .map(|(p, _)| Circle::new((p[0] as f64, p[1] as f64), 4, color.filled()));
                let drawn = chart.draw_series(dots).map_err(plot_err)?;
                if with_legend {
                    drawn.label(name_of(class)).legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
                }
            }
            if with_legend {
                draw_legend(&mut chart, SeriesLabelPosition::UpperRight, 14)?;
            }
        }
        Ok(())
    })
}
