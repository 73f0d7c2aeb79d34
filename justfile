# marnet recipes. `just --list` shows them; README.md documents every recipe and flag.
# Python tools (just itself, pyarrow, pytest, onnx) live in .venv, made by scripts/setup-dev.sh.

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/.venv/bin:" + env_var('PATH')

cache := "caches/demo"
run := "runs/demo"

# List the recipes.
default:
    @just --list

# Fetch the real demo assets if missing, then extract and train the heads on them.
demo: demo-assets extract train-heads

# Run every test: Rust (debug profile, dependencies optimised) and the Python converter tests.
test:
    bash scripts/setup-dev.sh
    cargo test --workspace --no-fail-fast
    python -m pytest -q tools/tests

# --- stage one (section owned by the extraction pipeline) ---

# Fetch the demo data and models into data/demo/ (idempotent; sha256 in data/demo/SHA256SUMS).
demo-assets:
    bash scripts/demo_assets.sh

# Extract x_v, x_s into a feature cache. No arguments: the demo (CLIP ViT-B/16 + all-MiniLM-L6-v2
# on data/demo/food) into caches/demo; otherwise the arguments go to `marnet-extract run` as given.
[positional-arguments]
extract *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$#" -eq 0 ]; then
      [ -f data/demo/food/manifest.csv ] && [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ] || bash scripts/demo_assets.sh
      set -- --dataset manifest:data/demo/food/manifest.csv \
        --image-model data/demo/models/clip-vit-b16-vision --text-model data/demo/models/all-MiniLM-L6-v2 \
        --out {{cache}}
    fi
    cargo run --release --quiet -p marnet-extract -- run "$@"

# --- stage two ---

# --- benchmarks ---

# Extraction speed of the demo encoders on this CPU (release): images/s and texts/s at two batch
# sizes, GFLOP/s against a measured matmul peak. Writes target/bench_extract.md (see BENCHMARKS.md).
bench-extract *ARGS:
    [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ] || bash scripts/demo_assets.sh
    cargo run --release --quiet -p marnet-extract --example bench_extract -- {{ARGS}}
