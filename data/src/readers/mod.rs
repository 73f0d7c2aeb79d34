//! Dataset readers, one per `KIND` of DESIGN.md §4. Each `load(path)` returns a
//! [`crate::Dataset`]; shared helpers turn files into numbered lines, tables and labels.

pub mod hf;
pub mod imagefolder;
pub mod ingredient101;
pub mod manifest;
pub mod vireo172;
pub mod webdataset;

mod files;
mod labels;
mod lines;
mod parquet_table;
mod record;
mod split_names;
mod table;
mod table_rows;
mod unique;
