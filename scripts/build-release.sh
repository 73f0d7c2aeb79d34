#!/usr/bin/env bash
# `scripts/build-release.sh PACKAGE`: `cargo build --release -p PACKAGE`, after a line that says
# what is being built and, before the first build, how long it usually takes (so that a first
# build is not mistaken for a hang). Without --quiet, so cargo shows its progress bar on a
# terminal (and its "Compiling" lines elsewhere).
# The justfile's recipes call this, then `cargo run --release --quiet` (a no-op check) to run.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=$1
# First release builds on this repository's 2-core machine (README.md "Quick start"): both binaries
# take about 8 min together; marnet-extract, built first, compiles 260 of the 281 packages that
# marnet-heads needs (`cargo tree`).
case "$pkg" in
  marnet-extract) first="with marnet-heads after it about 8 min on 2 idle cores, most of it here" ;;
  marnet-heads) first="the rest of the ~8 min the two binaries take on 2 idle cores" ;;
  *) first="several minutes" ;;
esac
if [[ -x "${CARGO_TARGET_DIR:-target}/release/$pkg" ]]; then
  echo "==> building $pkg (release; up to date in seconds unless the sources changed)" >&2
else
  echo "==> building $pkg (release, first time: $first)" >&2
fi
cargo build --release -p "$pkg"
