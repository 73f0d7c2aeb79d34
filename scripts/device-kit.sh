#!/usr/bin/env bash
# `just device-kit` (docs/gpu-device-kit.md): packs into device-kit/ (git-ignored) everything the
# offline GPU check needs, so that a GPU machine with no network, no Rust and no compiler can prove
# the CUDA path in one call:
#
#   device-kit/bin/marnet-{extract,heads}.xz   release binaries built with --features cuda for
#                                              CUDA_COMPUTE_CAP (default 90: H100/H200), stripped,
#                                              xz-compressed; SHA256SUMS of the uncompressed files
#   device-kit/scripts/device-check*.sh        the check (scripts/device-check.sh) and its steps
#   device-kit/tools/device_check*.py          its Python helpers (numpy, pyarrow, pillow,
#                                              safetensors; torch + transformers for the baseline)
#   device-kit/extract/tests/fixtures/tiny     the tiny models and the transformers goldens
#
# The kit keeps the repository's layout, so the check finds its files the same way in both. The
# build runs through scripts/setup-cuda.sh (NVIDIA's compiler wheels from PyPI; no GPU needed).
# The kit is written to a temp folder and renamed, so a failed run never leaves half a kit. At the
# end it prints the kit's size and the working tree's (tracked and untracked, not ignored files),
# whose sum must stay under the device tool's 64 MiB.
#
# Run the kit on the GPU machine: bash device-kit/scripts/device-check.sh   (writes to $OUT)
#
#   bash scripts/device-kit.sh                  build and pack device-kit/
#   bash scripts/device-kit.sh --files-only DIR everything but the binaries, into DIR (the CPU dry
#                                               run of `just test` runs the check from such a copy,
#                                               so a file the check needs and the kit lacks fails CI)
set -euo pipefail
cd "$(dirname "$0")/.."
kit=device-kit
limit_mib=64
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"

# copy_files DIR: the check's scripts, Python helpers and tiny fixtures, in the repository's layout.
copy_files() {
  mkdir -p "$1/bin" "$1/scripts" "$1/tools" "$1/extract/tests/fixtures"
  cp scripts/device-check.sh scripts/device-check-steps.sh "$1/scripts/"
  cp tools/device_check.py tools/device_check_*.py tools/gpu_check.py tools/requirements-device-check.txt "$1/tools/"
  cp -r extract/tests/fixtures/tiny "$1/extract/tests/fixtures/"
}

if [ "${1:-}" = --files-only ]; then
  [ -n "${2:-}" ] || { echo "device-kit: --files-only needs a folder" >&2; exit 64; }
  rm -rf "$2"
  copy_files "$2"
  exit 0
fi
[ "$#" = 0 ] || { echo "device-kit: unknown argument '$1' (expected none or --files-only DIR)" >&2; exit 64; }

bash scripts/setup-cuda.sh bins
# shellcheck disable=SC1091
source .cuda/env.sh
release="$CARGO_TARGET_DIR/release"

tmp=$(mktemp -d "$PWD/.device-kit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
copy_files "$tmp"
for b in marnet-extract marnet-heads; do
  strip -o "$tmp/bin/$b" "$release/$b"
  (cd "$tmp/bin" && sha256sum "$b" >> SHA256SUMS)
  xz -9 -T0 "$tmp/bin/$b"   # replaces the file with bin/$b.xz
done
git rev-parse HEAD > "$tmp/COMMIT" 2>/dev/null || echo unknown > "$tmp/COMMIT"
echo "CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP" >> "$tmp/COMMIT"
rm -rf "$kit"
mv "$tmp" "$kit"
trap - EXIT

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
kit_bytes=$(du -sb "$kit" | cut -f1)
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$((kit_bytes + tree_bytes))
echo "device-kit: $kit/ $(mib "$kit_bytes") MiB (binaries: $(du -cb "$kit"/bin/*.xz | tail -1 | cut -f1 | { read -r b; mib "$b"; }) MiB compressed)"
echo "device-kit: working tree $(mib "$tree_bytes") MiB; together $(mib "$total") MiB of the $limit_mib MiB a device call carries"
if [ "$total" -gt $((limit_mib * 1048576)) ]; then
  echo "device-kit: too large for one device call: $(mib "$total") MiB > $limit_mib MiB" >&2
  exit 1
fi
echo "device-kit: on the GPU machine: bash $kit/scripts/device-check.sh (carry: $kit)"
