//! Feature cache tests (DESIGN.md §3): round trip, resume, refusals, pyarrow interop.

#[path = "../common/mod.rs"]
mod common;

mod pyarrow;
mod refusals;
mod resume;
mod roundtrip;
