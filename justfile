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

# Print a dataset's summary JSON (classes, split sizes, texts, missing files): `just inspect manifest:DIR`.
inspect DATASET:
    cargo run --release --quiet -p marnet-extract -- inspect --dataset {{DATASET}}

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

# Train the heads on a cache and print the ablation table (paper table 2 layout). No arguments:
# every mode on caches/demo into runs/demo; otherwise the arguments go to `marnet-heads train`.
[positional-arguments]
train-heads *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$#" -eq 0 ]; then set -- --cache {{cache}} --out {{run}} --mode all; fi
    cargo run --release --quiet -p marnet-heads -- train "$@"

# Hyperparameter sweep on a cache (rayon, resumable). No arguments: heads/sweeps/demo.toml on
# caches/demo into runs/sweep-demo, then prints the leaderboard; otherwise arguments go to `marnet-heads sweep`.
[positional-arguments]
sweep *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$#" -eq 0 ]; then
      cargo run --release --quiet -p marnet-heads -- sweep --cache {{cache}} --sweep heads/sweeps/demo.toml --out runs/sweep-demo
      cat runs/sweep-demo/leaderboard.md
    else
      cargo run --release --quiet -p marnet-heads -- sweep "$@"
    fi

# Top-5 classes for images with a trained run (default runs/demo): `just predict photo.jpg ...`;
# flags after the images go to `marnet-heads predict` as they are (`--mode fusion --top-k 3 --json`).
[positional-arguments]
predict +ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    args=(); flags=0
    for a in "$@"; do
        if [ "$flags" = 1 ] || [[ "$a" == -* ]]; then flags=1; args+=("$a"); else args+=(--image "$a"); fi
    done
    cargo run --release --quiet -p marnet-heads -- predict --run {{run}} "${args[@]}"

# Fine-tune the image backbone end to end on the demo (CPU: a short step budget; re-running resumes).
# Writes runs/finetune-demo (checkpoints, metrics, report) and an exported backbone folder.
finetune steps="3":
    cargo run --release --quiet -p marnet-heads -- finetune --dataset manifest:data/demo/food/manifest.csv \
        --image-model data/demo/models/clip-vit-b16-vision --text-model data/demo/models/all-MiniLM-L6-v2 \
        --out runs/finetune-demo --epochs 1 --batch-size 8 --freeze-blocks 8 --max-steps {{steps}} \
        --eval-batch-size 16 --export-backbone runs/finetune-demo/backbone

# --- GPU (README "GPU"; scripts/setup-cuda.sh installs the CUDA toolkit from PyPI into .cuda/) ---

# Release build of both binaries with `--features cuda` into target/cuda (no GPU needed), plus the tests with --no-run.
build-cuda:
    bash scripts/setup-cuda.sh build

# Compile check of the `cuda` feature (candle's CUDA kernels to PTX, every target; links nothing; no GPU needed).
check-cuda:
    bash scripts/setup-cuda.sh check

# On a machine with an NVIDIA GPU: build, device tests, demo checks against the CPU, one table (see scripts/gpu-check.sh --help).
gpu-check *ARGS:
    bash scripts/gpu-check.sh {{ARGS}}

# --- benchmarks ---

# All benchmarks (release): extraction, heads training and sweeps; results go to BENCHMARKS.md.
bench: bench-extract bench-heads bench-sweep

# Heads: seconds per epoch per mode on a synthetic Vireo-Food172-size cache, sampling time, memory.
bench-heads *ARGS:
    cargo run --release --quiet -p marnet-heads --example bench_heads -- {{ARGS}}

# Sweeps: trials per minute of a fixed 16-trial sweep at --jobs 1 and --jobs 2.
bench-sweep *ARGS:
    cargo run --release --quiet -p marnet-heads --example bench_sweep -- {{ARGS}}

# The PyTorch eager reference on this machine (the "PyTorch" columns of BENCHMARKS.md): the same
# heads work as bench-heads and the demo's CLIP ViT-B/16 forward. Setup, once: installs torch and
# transformers from PyPI into .venv-bench (torch's PyPI wheel pulls the CUDA libraries, ~3 GB);
# never used by the tests. ARGS go to tools/bench_pytorch.py (--quick: 1/8 of the rows).
bench-pytorch *ARGS:
    [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ] || bash scripts/demo_assets.sh
    [ -x .venv-bench/bin/python ] || (python3 -m venv .venv-bench && .venv-bench/bin/pip install -q -r tools/requirements-bench.txt)
    .venv-bench/bin/python tools/bench_pytorch.py --image-model data/demo/models/clip-vit-b16-vision {{ARGS}}

# Extraction speed of the demo encoders on this CPU (release): images/s and texts/s at two batch
# sizes, GFLOP/s against a measured matmul peak. Writes target/bench_extract.md (see BENCHMARKS.md).
bench-extract *ARGS:
    [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ] || bash scripts/demo_assets.sh
    cargo run --release --quiet -p marnet-extract --example bench_extract -- {{ARGS}}
