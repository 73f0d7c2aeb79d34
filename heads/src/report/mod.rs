//! What a run writes and shows, reading trained results (it never calls training):
//!
//! - [`run_output`]: the run folder of `marnet-heads train` (DESIGN §7: `config.toml`,
//!   `metrics.json`, `heads.safetensors`, `predictions.parquet`, the ablation table).
//! - [`markdown`]: `report.md` in the layout of paper table 2 with the plots; [`input`] maps the
//!   results to its plain-data input.
//! - [`plots`]: training curves, fig. 3 t-SNE pairs, fig. 4 confidence histograms, sweep plots;
//!   [`tsne`]: exact t-SNE for them.
//! - [`paired`]: paired per-seed differences to `baseline` with a 95 % confidence interval.
//! - [`table1`]: the paper's Table 1 layout (`--mode table1`), TEAM marked as not runnable.
//! - [`files`]: atomic writes used by every output.

pub mod files;
pub mod input;
pub mod markdown;
pub mod paired;
pub mod plots;
pub mod run_output;
pub mod table1;
pub mod tsne;

pub use files::{safetensors_bytes, write_atomic};
pub use input::report_input;
pub use markdown::{
    render_markdown, write_report, CurveSet, FidelityRow, ReportInput, ReportOutput, ReportRow, TsneInput,
};
