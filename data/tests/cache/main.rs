//! Feature cache tests (DESIGN.md §3): round trip, resume, refusals, old sidecar names, pyarrow interop.

#[path = "../common/mod.rs"]
mod common;

mod legacy;
mod pyarrow;
mod refusals;
mod resume;
mod roundtrip;
