# marnet recipes. `./just --list` shows them; docs/recipes.md documents every recipe and flag.
# `./just RECIPE` (the top-level wrapper) installs the pinned `just` into .venv when it is missing,
# then runs it; with `just` on PATH, `just RECIPE` is the same. The other Python tools (pyarrow,
# pytest, onnx) go into .venv too: scripts/setup-dev.sh (run by `test`) and scripts/demo_assets.sh.
# Recipes that run a binary build it first with scripts/build-release.sh (a line saying what is
# built and how long a first build takes, then cargo's own progress), then run it with
# `cargo run --release --quiet`, which then only checks that the build is fresh.

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/.venv/bin:" + env_var('PATH')

cache := "caches/demo"
run := "runs/demo"

# List the recipes.
default:
    @just --list

# Fetch the demo assets if missing, build, extract and train the heads (a line before each step).
demo: demo-assets extract train-heads

# Run every test: Rust (debug profile, dependencies optimised), the Python converter tests and the
# cache interop test (pyarrow, pandas, polars, DuckDB, HF datasets open a cache folder).
[doc("Every test: Rust (debug, dependencies optimised), Python converter, wrapper, gpu-check and cache interop tests, the device check's CPU dry run.")]
test:
    bash scripts/setup-dev.sh
    cargo test --workspace --no-fail-fast
    python -m pytest -q tools/tests
    just device-check-dry-run

# The format and lint gate that CI runs after `test`: rustfmt with the root rustfmt.toml, then clippy
# on every target with warnings as errors.
[doc("Format and lint gate: cargo fmt --check, then cargo clippy --workspace --all-targets -D warnings (CI runs it).")]
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# The Slurm job-array scripts (deploy/slurm/) on a real one-node Slurm on localhost: array
# extraction = one process bit for bit, scancel + resubmit resumes, sweep array = --jobs 1.
# Needs root (installs Debian's slurm-wlm and munge when missing) and the demo assets.
[doc("The Slurm scripts on a real one-node Slurm on localhost (root; installs slurm-wlm, munge; not in CI).")]
test-slurm:
    bash scripts/test-slurm.sh

# --- stage one ---

# Fetch the demo data and models into data/demo/ (idempotent; sha256 in data/demo/SHA256SUMS).
demo-assets:
    bash scripts/demo_assets.sh

# Print a dataset's summary JSON (classes, split sizes, texts, missing files): `just inspect manifest:DIR`.
inspect DATASET:
    @bash scripts/build-release.sh marnet-extract
    cargo run --release --quiet -p marnet-extract -- inspect --dataset {{DATASET}}

# No arguments: the demo (CLIP ViT-B/16 + all-MiniLM-L6-v2 on data/demo/food) into caches/demo,
# fetching the assets first if missing; otherwise the arguments go to `marnet-extract run` as given.
# Extract x_v, x_s into a feature cache (no arguments: the demo into caches/demo).
[positional-arguments]
extract *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    demo=0
    if [ "$#" -eq 0 ]; then
      demo=1
      [ -f data/demo/food/manifest.csv ] && [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ] || bash scripts/demo_assets.sh
      set -- --dataset manifest:data/demo/food/manifest.csv \
        --image-model data/demo/models/clip-vit-b16-vision --text-model data/demo/models/all-MiniLM-L6-v2 \
        --out {{cache}}
    fi
    bash scripts/build-release.sh marnet-extract
    if [ "$demo" = 1 ]; then
      echo "==> extracting x_v, x_s of the demo photos into {{cache}} (about 80-85 s on 2 idle cores; a finished cache is kept)" >&2
    fi
    cargo run --release --quiet -p marnet-extract -- run "$@"

# --- stage two ---

# No arguments: every mode on caches/demo into runs/demo; otherwise the arguments go to
# `marnet-heads train`.
# Train the heads on a cache and print the ablation table (paper table 2 layout).
[positional-arguments]
train-heads *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    bash scripts/build-release.sh marnet-heads
    if [ "$#" -eq 0 ]; then
      echo "==> training the heads of every mode with 3 seeds on {{cache}} into {{run}} (about 2 min on 2 idle cores)" >&2
      set -- --cache {{cache}} --out {{run}} --mode all --seeds 3
    fi
    cargo run --release --quiet -p marnet-heads -- train "$@"

# No arguments: heads/sweeps/demo.toml on caches/demo into runs/sweep-demo, then prints the
# leaderboard; otherwise arguments go to `marnet-heads sweep`.
# Hyperparameter sweep on a cache (rayon, resumable).
[positional-arguments]
sweep *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    bash scripts/build-release.sh marnet-heads
    if [ "$#" -eq 0 ]; then
      cargo run --release --quiet -p marnet-heads -- sweep --cache {{cache}} --sweep heads/sweeps/demo.toml --out runs/sweep-demo
      cat runs/sweep-demo/leaderboard.md
    else
      cargo run --release --quiet -p marnet-heads -- sweep "$@"
    fi

# Flags after the images go to `marnet-heads predict` as they are (`--mode fusion --top-k 3 --json`).
# Top-5 classes of images with the trained run runs/demo: `just predict photo.jpg ...`.
[positional-arguments]
predict +ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    bash scripts/build-release.sh marnet-heads
    args=(); flags=0
    for a in "$@"; do
        if [ "$flags" = 1 ] || [[ "$a" == -* ]]; then flags=1; args+=("$a"); else args+=(--image "$a"); fi
    done
    cargo run --release --quiet -p marnet-heads -- predict --run {{run}} "${args[@]}"

# Writes runs/finetune-demo (checkpoints, metrics, report) and an exported backbone folder.
# Fine-tune the image backbone end to end on the demo (CPU: a short step budget; re-running resumes).
finetune steps="3":
    @bash scripts/build-release.sh marnet-heads
    cargo run --release --quiet -p marnet-heads -- finetune --dataset manifest:data/demo/food/manifest.csv \
        --image-model data/demo/models/clip-vit-b16-vision --text-model data/demo/models/all-MiniLM-L6-v2 \
        --out runs/finetune-demo --epochs 1 --batch-size 8 --freeze-blocks 8 --max-steps {{steps}} \
        --eval-batch-size 16 --export-backbone runs/finetune-demo/backbone

# --- GPU (docs/gpu.md; scripts/setup-cuda.sh installs the CUDA toolkit from PyPI into .cuda/) ---

# Release build of both binaries with `--features cuda` into target/cuda (no GPU needed), plus the tests with --no-run.
build-cuda:
    bash scripts/setup-cuda.sh build

# Compile check of the `cuda` feature (candle's CUDA kernels to PTX, every target; links nothing; no GPU needed). CI runs it after `test` (.ci/run).
check-cuda:
    bash scripts/setup-cuda.sh check

# Pack device-kit/ (git-ignored) for an offline GPU machine: the CUDA release binaries for CUDA_COMPUTE_CAP (default 90), stripped and xz-compressed, the tiny fixtures and goldens, the check's scripts; prints its size against the 64 MiB a device call carries (docs/gpu-device-kit.md).
device-kit:
    bash scripts/device-kit.sh

# The offline GPU check's CPU dry run (`just test` runs it): every step of scripts/device-check.sh at tiny sizes with --device cpu, run from a kit-layout copy of its files (so the kit cannot lack one) on the debug binaries that `cargo test` built (in `$CARGO_TARGET_DIR` when set), with the Python of .venv (no torch: the transformers baseline and fine-tuning steps SKIP).
device-check-dry-run:
    bash scripts/device-kit.sh --files-only runs/device-check-cpu/kit
    bash runs/device-check-cpu/kit/scripts/device-check.sh --device cpu --bin "${CARGO_TARGET_DIR:-target}/debug" --python .venv/bin/python --out runs/device-check-cpu --work runs/device-check-cpu/work

# The same dry run with the transformers baseline and fine-tuning steps too: torch + transformers (the GPU machines' versions) go into .venv-device on first use (about 5 GB on disk, 6 min: PyPI's Linux torch pulls NVIDIA's CUDA wheels, which is why `just test` leaves them out).
device-check-dry-run-hf:
    bash scripts/device-check.sh --setup
    bash scripts/device-kit.sh --files-only runs/device-check-cpu/kit
    bash runs/device-check-cpu/kit/scripts/device-check.sh --device cpu --bin "${CARGO_TARGET_DIR:-target}/debug" --python .venv-device/bin/python --out runs/device-check-cpu --work runs/device-check-cpu/work

# On a machine with an NVIDIA GPU: build, device tests, demo checks against the CPU, one table (see scripts/gpu-check.sh --help).
gpu-check *ARGS:
    bash scripts/gpu-check.sh {{ARGS}}

# --- benchmarks ---

# All benchmarks (release): extraction, heads training and sweeps; results go to docs/benchmarks.md.
bench: bench-extract bench-heads bench-sweep

# Heads: seconds per epoch per mode on a synthetic Vireo-Food172-size cache, sampling time, memory.
bench-heads *ARGS:
    cargo run --release --quiet -p marnet-heads --example bench_heads -- {{ARGS}}

# Sweeps: trials per minute of a fixed 16-trial sweep at --jobs 1 and --jobs 2.
bench-sweep *ARGS:
    cargo run --release --quiet -p marnet-heads --example bench_sweep -- {{ARGS}}

# The same heads work as bench-heads and the demo's CLIP ViT-B/16 forward. Setup, once: installs
# torch and transformers from PyPI into .venv-bench (torch's PyPI wheel pulls the CUDA libraries,
# ~3 GB); never used by the tests. ARGS go to tools/bench_pytorch.py (--quick: 1/8 of the rows).
# The PyTorch eager reference on this machine (the "PyTorch" columns of docs/benchmarks.md).
bench-pytorch *ARGS:
    [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ] || bash scripts/demo_assets.sh
    [ -x .venv-bench/bin/python ] || (python3 -m venv .venv-bench && .venv-bench/bin/pip install -q -r tools/requirements-bench.txt)
    .venv-bench/bin/python tools/bench_pytorch.py --image-model data/demo/models/clip-vit-b16-vision {{ARGS}}

# Images/s and texts/s at two batch sizes, GFLOP/s against a measured matmul peak; writes
# target/bench_extract.md (see docs/benchmarks.md).
# Extraction speed of the demo encoders on this CPU (release).
bench-extract *ARGS:
    [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ] || bash scripts/demo_assets.sh
    cargo run --release --quiet -p marnet-extract --example bench_extract -- {{ARGS}}
