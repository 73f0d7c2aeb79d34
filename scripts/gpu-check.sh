#!/usr/bin/env bash
# One command that proves the GPU path on a machine with an NVIDIA GPU (docs/gpu.md).
#
# Usage: scripts/gpu-check.sh [--device cuda|cuda:N] [--out DIR] [--cpu-cache DIR] [--seeds N]
#                             [--batch-size N] [--skip-build] [-h|--help]
#
#   --device      the GPU to check (default cuda:0)
#   --out         folder for logs, caches, runs and results.jsonl (default runs/gpu-check)
#   --cpu-cache   the demo's CPU feature cache to compare with (default: extract it first on the
#                 CPU into OUT/cache-cpu with the CPU build in target/)
#   --seeds       seeds of the heads runs on CPU and GPU (default 3)
#   --batch-size  extraction batch size on the GPU (default 256)
#   --skip-build  reuse target/cuda from an earlier run
#
# Steps: checks that nvidia-smi lists the device (else exits 2 at once with one line "no CUDA
# device"); `scripts/setup-cuda.sh build` for the device's compute capability; the workspace
# tests in the cuda build and the device tests (extract/tests/cuda_parity.rs, `--ignored`); on the
# demo (data/demo, fetched by scripts/demo_assets.sh if missing): extraction on the GPU in f32 and
# bf16 compared with the CPU cache (per-row cosine of x_v and x_s >= 0.9999 f32, >= 0.999 bf16),
# `marnet-heads train --mode all` on the GPU against the CPU run's seed spread, a 20-step bf16
# fine-tune, and the Vireo-size fusion epoch (bench_heads). Prints one table (images/s, texts/s,
# s/epoch, peak GPU memory, pass/fail per check) and exits 1 if any check failed.
# Exit codes: 0 all passed, 1 a check failed, 2 no CUDA device, 64 bad arguments.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
bad_args() { echo "gpu-check: $1 (see --help)" >&2; exit 64; }
no_device() { echo "gpu-check: no CUDA device: $1" >&2; exit 2; }

device=cuda:0 out=runs/gpu-check cpu_cache="" seeds=3 batch=256 skip_build=0
value() { [ "$#" -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || bad_args "$1 needs a value"; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --device) value "$@"; device=$2; shift 2 ;;
    --out) value "$@"; out=$2; shift 2 ;;
    --cpu-cache) value "$@"; cpu_cache=$2; shift 2 ;;
    --seeds) value "$@"; seeds=$2; shift 2 ;;
    --batch-size) value "$@"; batch=$2; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    *) bad_args "unknown argument '$1'" ;;
  esac
done
# The binaries' names (extract/src/device.rs): case-insensitive, `gpu` = `cuda`.
case "${device,,}" in
  cuda|gpu) ordinal=0 ;;
  cuda:*|gpu:*) ordinal=${device#*:}; [[ "$ordinal" =~ ^[0-9]+$ ]] || bad_args "--device '$device': expected cuda or cuda:N with N an integer" ;;
  *) bad_args "--device '$device': expected cuda or cuda:N" ;;
esac
device=cuda:$ordinal
[[ "$seeds" =~ ^[1-9][0-9]*$ ]] || bad_args "--seeds '$seeds': expected a positive integer"
[[ "$batch" =~ ^[1-9][0-9]*$ ]] || bad_args "--batch-size '$batch': expected a positive integer"

# The device first, before anything is built: nvidia-smi comes with the driver.
smi=${NVIDIA_SMI:-nvidia-smi}
command -v "$smi" >/dev/null 2>&1 || no_device "nvidia-smi not found (no NVIDIA driver on this machine)"
gpus=$("$smi" -L 2>/dev/null) || no_device "nvidia-smi failed (driver not loaded, or no GPU)"
grep -q "^GPU $ordinal:" <<<"$gpus" || no_device "$device asked for, nvidia-smi lists $(grep -c '^GPU ' <<<"$gpus") GPU(s)"
info=$("$smi" --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader -i "$ordinal")
IFS=, read -r gpu_name driver cap mem_total <<<"$info"
driver=${driver// /} cap=${cap// /}
echo "gpu-check: $device = $gpu_name (driver $driver, compute capability $cap,$mem_total)"
# PTX from CUDA 13.0 (the toolkit scripts/setup-cuda.sh pins) needs driver 580 or newer: a driver
# loads PTX only up to its own CUDA version.
if [[ "${driver%%.*}" =~ ^[0-9]+$ ]] && [ "${driver%%.*}" -lt 580 ]; then
  echo "gpu-check: driver $driver is older than 580, the first that loads the CUDA 13.0 PTX of this build (scripts/setup-cuda.sh); update the driver" >&2; exit 1
fi
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-${cap//./}}

bash scripts/setup-dev.sh
py=.venv/bin/python
mkdir -p "$out"
results="$out/results.jsonl"
: > "$results"
features=marnet-extract/cuda,marnet-heads/cuda

# record CHECK PASS(0|1) DETAIL [IMAGES_PER_S TEXTS_PER_S S_PER_EPOCH PEAK_MIB]
record() {
  "$py" -c 'import json, sys
a = sys.argv[1:] + [""] * 8
num = lambda x: float(x) if x else None
print(json.dumps({"check": a[0], "pass": a[1] == "1", "detail": a[2], "images_per_s": num(a[3]),
                  "texts_per_s": num(a[4]), "s_per_epoch": num(a[5]), "peak_mib": num(a[6])}))' "$@" >> "$results"
  [ "$2" = 1 ] && echo "gpu-check: $1: pass" || echo "gpu-check: $1: FAIL ($3)"
}

# Peak device memory while a step runs: nvidia-smi sampled every 200 ms (all processes on it).
monitor_pid=""
monitor_start() { "$smi" --query-gpu=memory.used --format=csv,noheader,nounits -i "$ordinal" -lms 200 > "$out/.mem" 2>/dev/null & monitor_pid=$!; }
monitor_stop() { kill "$monitor_pid" 2>/dev/null; wait "$monitor_pid" 2>/dev/null; sort -n "$out/.mem" | tail -1 | tr -d ' '; }

finish() {
  echo
  "$py" tools/gpu_check.py table "$results" | tee "$out/table.md"
  exit "${PIPESTATUS[0]}"
}

# 1. Build (release binaries, test binaries) with the toolkit from PyPI.
if [ "$skip_build" = 0 ]; then
  if bash scripts/setup-cuda.sh build > "$out/build.log" 2>&1; then
    record "build --features cuda (sm_$CUDA_COMPUTE_CAP)" 1 "$(tail -2 "$out/build.log" | head -1)"
  else
    record "build --features cuda (sm_$CUDA_COMPUTE_CAP)" 0 "see $out/build.log"; finish
  fi
fi
# shellcheck disable=SC1091
source .cuda/env.sh
bin="$CARGO_TARGET_DIR/release"
cpu_target=$PWD/target   # the CPU build, for the reference runs

# 2. Tests: the whole workspace in the cuda build, then the device tests on this GPU.
cargo test --workspace --release --features "$features" > "$out/tests.log" 2>&1
record "workspace tests (cuda build)" $(( $? == 0 )) "$(grep -c '^test result: ok' "$out/tests.log") test binaries ok"
monitor_start
MARNET_CUDA_DEVICE=$device cargo test --release --features "$features" -p marnet-extract --test cuda_parity -- --ignored > "$out/device-tests.log" 2>&1
rc=$?
record "device tests (cuda_parity, $device)" $(( rc == 0 )) "$(grep -o '[0-9]* passed; [0-9]* failed' "$out/device-tests.log" | tail -1)" "" "" "" "$(monitor_stop)"

# 3. The demo: assets, the CPU reference cache.
demo=(--dataset manifest:data/demo/food/manifest.csv --image-model data/demo/models/clip-vit-b16-vision
      --text-model data/demo/models/all-MiniLM-L6-v2)
if ! { [ -f data/demo/food/manifest.csv ] && [ -f data/demo/models/clip-vit-b16-vision/model.safetensors ]; } \
   && ! bash scripts/demo_assets.sh > "$out/demo-assets.log" 2>&1; then
  record "demo assets" 0 "scripts/demo_assets.sh failed: see $out/demo-assets.log"; finish
fi
if [ -z "$cpu_cache" ]; then
  cpu_cache="$out/cache-cpu"
  CARGO_TARGET_DIR=$cpu_target cargo run --release --quiet -p marnet-extract -- run "${demo[@]}" \
    --out "$cpu_cache" --device cpu --quiet > "$out/extract-cpu.log" 2>&1
  rc=$?
  speed=$("$py" tools/gpu_check.py extract-speed "$out/extract-cpu.log" 2>/dev/null || echo '{}')
  record "extract cpu f32 (reference)" $(( rc == 0 )) "$cpu_cache" \
    "$("$py" -c 'import json,sys; print(json.loads(sys.argv[1]).get("images_per_s",""))' "$speed")" \
    "$("$py" -c 'import json,sys; print(json.loads(sys.argv[1]).get("texts_per_s",""))' "$speed")"
  [ "$rc" = 0 ] || finish
fi

# 4. Extraction on the GPU, f32 and bf16, against the CPU cache.
for spec in f32:0.9999 bf16:0.999; do
  dtype=${spec%%:*} min=${spec#*:}
  cache="$out/cache-cuda-$dtype"
  rm -rf "$cache"
  monitor_start
  "$bin/marnet-extract" run "${demo[@]}" --out "$cache" --device "$device" --dtype "$dtype" \
    --batch-size "$batch" --quiet > "$out/extract-cuda-$dtype.log" 2>&1
  rc=$?; peak=$(monitor_stop)
  if [ "$rc" = 0 ]; then
    cmp=$("$py" tools/gpu_check.py compare-caches "$cpu_cache" "$cache" --min-cosine "$min" 2>&1); ok=$(( $? == 0 ))
  else
    cmp="marnet-extract failed: $(tail -1 "$out/extract-cuda-$dtype.log")"; ok=0
  fi
  speed=$("$py" tools/gpu_check.py extract-speed "$out/extract-cuda-$dtype.log" 2>/dev/null || echo '{}')
  record "extract $device $dtype, batch $batch" "$ok" "$cmp" \
    "$("$py" -c 'import json,sys; print(json.loads(sys.argv[1]).get("images_per_s",""))' "$speed")" \
    "$("$py" -c 'import json,sys; print(json.loads(sys.argv[1]).get("texts_per_s",""))' "$speed")" "" "$peak"
done

# 5. Heads on the CPU cache: CPU seeds (the spread), then the GPU.
heads=(train --cache "$cpu_cache" --mode all --seeds "$seeds")
CARGO_TARGET_DIR=$cpu_target cargo run --release --quiet -p marnet-heads -- "${heads[@]}" --out "$out/heads-cpu" --device cpu \
  > "$out/heads-cpu.log" 2>&1
rc=$?
spe=$("$py" tools/gpu_check.py epoch-seconds "$out/heads-cpu.log" "$out/heads-cpu" 2>/dev/null || echo '{}')
record "heads train cpu, $seeds seeds (reference)" $(( rc == 0 )) "s/epoch per mode $spe" "" "" \
  "$("$py" -c 'import json,sys; print(json.loads(sys.argv[1]).get("fusion",""))' "$spe")"
monitor_start
"$bin/marnet-heads" "${heads[@]}" --out "$out/heads-cuda" --device "$device" > "$out/heads-cuda.log" 2>&1
rc=$?; peak=$(monitor_stop)
if [ "$rc" = 0 ]; then
  cmp=$("$py" tools/gpu_check.py compare-heads "$out/heads-cpu" "$out/heads-cuda" 2>&1); ok=$(( $? == 0 ))
  echo "$cmp"
  cmp=$(tail -1 <<<"$cmp")
else
  cmp="marnet-heads train failed: $(tail -1 "$out/heads-cuda.log")"; ok=0
fi
spe=$("$py" tools/gpu_check.py epoch-seconds "$out/heads-cuda.log" "$out/heads-cuda" 2>/dev/null || echo '{}')
record "heads train $device, $seeds seeds (s/epoch: fusion)" "$ok" "$cmp" "" "" \
  "$("$py" -c 'import json,sys; print(json.loads(sys.argv[1]).get("fusion",""))' "$spe")" "$peak"

# 6. A 20-step bf16 fine-tune of the image backbone on the demo.
rm -rf "$out/finetune"
monitor_start
"$bin/marnet-heads" finetune "${demo[@]}" --out "$out/finetune" --epochs 1 --batch-size 32 --max-steps 20 \
  --eval-batch-size 64 --device "$device" --dtype bf16 > "$out/finetune.log" 2>&1
rc=$?; peak=$(monitor_stop)
if [ "$rc" = 0 ]; then
  cmp=$("$py" tools/gpu_check.py finetune-ok "$out/finetune" 20 2>&1); ok=$(( $? == 0 ))
else
  cmp="marnet-heads finetune failed: $(tail -1 "$out/finetune.log")"; ok=0
fi
record "finetune $device bf16, 20 steps" "$ok" "$cmp" "" "" "" "$peak"

# 7. The Vireo-size synthetic cache: seconds per fusion epoch. The check is that the benchmark runs;
#    the aim (<= 1 s) is reported in the table, not enforced.
monitor_start
cargo run --release --quiet --features "$features" -p marnet-heads --example bench_heads -- --device "$device" \
  > "$out/bench-heads.md" 2> "$out/bench-heads.log"
rc=$?; peak=$(monitor_stop)
fusion=$(grep -E '^\| fusion \| 1 \|' "$out/bench-heads.md" | cut -d'|' -f4 | tr -d ' ')
record "bench_heads $device, Vireo size (s/epoch: fusion phase 1)" $(( rc == 0 )) "aim <= 1 s; table in $out/bench-heads.md" "" "" "$fusion" "$peak"

finish
