//! PNG plots for the training report and the sweep report (DESIGN §1: "reports, plots").
//!
//! Every plot is a pure function of plain data: it draws with `plotters` into an RGB buffer
//! (`BitMapBackend::with_buffer`), encodes the buffer as PNG with the `image` crate and writes it to
//! a temporary name before renaming it into place. Text uses an embedded subset of DejaVu Sans
//! (`assets/fonts/`, Bitstream Vera licence) registered with plotters' `ab_glyph` font loader, so
//! no system font is needed.
//!
//! - [`plot_curves`]: loss and val top-1 curves per epoch.
//! - [`plot_tsne_pair`]: 2-D t-SNE of x_v next to x_CDR, coloured by class (paper fig. 3).
//! - [`plot_confidence_hist`]: top-1 confidence of the baseline against CDR (paper fig. 4).
//! - [`plot_metric_by_key`]: a sweep metric per value of one swept key.

mod by_key;
mod confidence;
mod curves;
mod tsne_pair;

pub use by_key::plot_metric_by_key;
pub use confidence::{confidence_histogram, plot_confidence_hist};
pub use curves::plot_curves;
pub use tsne_pair::plot_tsne_pair;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// DejaVu Sans restricted to ASCII, Latin-1, Greek, dashes and arrows (26 KB).
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-subset.ttf");

/// Font family name under which the embedded font is registered (plotters' default family).
pub(crate) const FONT: &str = "sans-serif";

/// Registers the embedded font once per process.
///
/// # Errors
/// Only if the embedded font file cannot be parsed (a build defect).
pub(crate) fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let normal = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok();
        let bold = plotters::style::register_font(FONT, FontStyle::Bold, FONT_BYTES).is_ok();
        normal && bold
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded plot font (DejaVuSans-subset.ttf) could not be parsed"))
    }
}

/// A qualitative palette (matplotlib "tab10"), cycled by series or class index.
pub(crate) fn palette(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = TAB10[i % TAB10.len()];
    RGBColor(r, g, b)
}

/// Converts any plotters error into `anyhow` (plotters errors borrow backend types).
pub(crate) fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e}")
}

/// Draws the series legend of `chart` in the plots' one style: white at 85 %, grey border,
/// `FONT` at `font_size` px, at `position`.
pub(crate) fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, font_size))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(plot_err)
}

/// Allocates a white RGB canvas of `(width, height)` pixels, lets `draw` paint on it and writes
/// it as PNG to `path` (temporary name, then rename).
///
/// # Errors
/// Drawing errors, or the PNG cannot be written (message names `path`).
pub(crate) fn render_png<F>(path: &Path, (width, height): (u32, u32), draw: F) -> Result<()>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
{
    ensure_font()?;
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    let img = image::RgbImage::from_raw(width, height, buf)
        .ok_or_else(|| anyhow!("internal error: plot buffer has the wrong size"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).with_context(|| format!("encoding PNG for {}", path.display()))?;
    crate::report::files::write_atomic(path, png.get_ref())
}

/// `(min, max)` of finite values padded by 5 % of the span (or ±0.5 when the span is zero);
/// `(0, 1)` when there is no finite value.
pub(crate) fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo - 0.05 * span, hi + 0.05 * span)
    }
}
