//! Dataset reader tests on the miniature fixture trees of `tests/fixtures/` (DESIGN.md §4).
//! Expected values are written by hand from the fixture files.

#[path = "../common/mod.rs"]
mod common;

mod duplicates_labels;
mod errors;
mod imagefolder;
mod ingredient101;
mod inputs;
mod inspect;
mod manifest;
mod sources;
mod vireo172;
