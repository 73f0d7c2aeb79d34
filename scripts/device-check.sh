#!/usr/bin/env bash
# The GPU path on an offline GPU machine, from the kit that `just device-kit` packs
# (docs/gpu-device-kit.md). Nothing is built, fetched or installed: the binaries come from the kit,
# the models, images and caches are made on the spot, the baseline is the machine's transformers.
#
# Usage: scripts/device-check.sh [--device cuda|cuda:N|cpu] [--out DIR] [--bin DIR] [--python PY]
#                                [--size full|tiny] [--work DIR] [--jobs N] [-h|--help]
#        scripts/device-check.sh --setup     create .venv-device (torch + transformers from PyPI,
#                                            tools/requirements-device-check.txt) for the CPU dry run
#
#   --device  cuda (default) or cuda:N; cpu is the dry run (`just test`) of the same steps
#   --out     table, results.jsonl, the log and logs.tar.gz (default $OUT when set, else
#             runs/device-check)
#   --bin     folder with marnet-extract and marnet-heads (default: the kit's bin/*.xz,
#             decompressed into WORK/bin)
#   --python  Python with numpy, pyarrow, pillow, safetensors (+ torch, transformers for the
#             baseline steps; without them those steps are SKIP) (default python3)
#   --size    full: CLIP ViT-B/16 + MiniLM-shaped BERT, 4096 JPEGs of 512x384, Vireo-size cache
#             (default on cuda); tiny: a few thousand parameters and dozens of images (default on cpu)
#   --work    scratch folder for models, images and caches (default /tmp/marnet-device-check)
#   --jobs    decode workers of the transformers loader and image writers (default nproc)
#
# Steps, each a row of the table (pass, FAIL or SKIP): the environment (GPU, driver, libcuda, the
# CUDA libraries of the Python packages, every library the binaries need resolved); tiny parity
# (tiny ViT / CLIP / DINOv2 / SigLIP + BERT fixtures through `marnet-extract run`, f32 max
# |diff| <= 1e-4 and bf16 min row cosine >= 0.999 against the transformers goldens); full-size parity (random-weight
# models made with transformers: per-row cosine of x_v and x_s against transformers f32 on the
# same device, >= 0.9999 f32 and >= 0.999 bf16); speed (marnet f32 and bf16 end to end from JPEG
# with the decode/model split, transformers bf16 SDPA model-only, decode-only and end to end);
# heads (`train --mode all` on the device and on the CPU, each mode within the CPU seed spread;
# s/epoch of fusion on a Vireo-size cache); fine-tuning learns (trainable backbone beats
# `--train-image-backbone false` by >= 20 points of val top-1 on stripe-orientation classes).
# Exit codes: 0 all passed (SKIP allowed), 1 a check failed, 2 no CUDA device, 64 bad arguments.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)   # the repository or the kit (same layout)

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
bad_args() { echo "device-check: $1 (see --help)" >&2; exit 64; }

if [ "${1:-}" = --setup ]; then
  reqs="$here/tools/requirements-device-check.txt" stamp="$here/.venv-device/.requirements.sha256"
  want=$(sha256sum "$reqs" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && exit 0
  t0=$SECONDS
  python3 -m venv "$here/.venv-device" && "$here/.venv-device/bin/python" -m pip install --quiet \
    --disable-pip-version-check -r "$reqs" || exit 1
  echo "$want" > "$stamp"
  echo "device-check: .venv-device ready in $((SECONDS - t0)) s ($(du -sh "$here/.venv-device/" | cut -f1))"
  exit 0
fi

device=cuda out=${OUT:-runs/device-check} bin="" py=python3 size="" work=/tmp/marnet-device-check jobs=$(nproc)
value() { [ "$#" -ge 2 ] && [ -n "$2" ] && [[ "$2" != --* ]] || bad_args "$1 needs a value"; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --device) value "$@"; device=${2,,}; shift 2 ;;
    --out) value "$@"; out=$2; shift 2 ;;
    --bin) value "$@"; bin=$2; shift 2 ;;
    --python) value "$@"; py=$2; shift 2 ;;
    --size) value "$@"; size=$2; shift 2 ;;
    --work) value "$@"; work=$2; shift 2 ;;
    --jobs) value "$@"; jobs=$2; shift 2 ;;
    *) bad_args "unknown argument '$1'" ;;
  esac
done
case "$device" in
  cpu) ordinal="" ;;
  cuda|gpu) ordinal=0; device=cuda:0 ;;
  cuda:*|gpu:*) ordinal=${device#*:}; [[ "$ordinal" =~ ^[0-9]+$ ]] || bad_args "--device '$device': expected cuda:N, N an integer"; device=cuda:$ordinal ;;
  *) bad_args "--device '$device': expected cuda, cuda:N or cpu" ;;
esac
[ -n "$size" ] || { [ "$device" = cpu ] && size=tiny || size=full; }
[[ "$size" =~ ^(full|tiny)$ ]] || bad_args "--size '$size': expected full or tiny"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || bad_args "--jobs '$jobs': expected a positive integer"
command -v "$py" >/dev/null || bad_args "--python '$py' not found"

mkdir -p "$out" "$work" || exit 64
out=$(cd "$out" && pwd) work=$(cd "$work" && pwd)
logs="$work/logs" results="$out/results.jsonl"
rm -rf "$logs"; mkdir -p "$logs"; : > "$results"
exec > >(tee "$out/device-check.log") 2>&1
dc() { "$py" "$here/tools/device_check.py" "$@"; }
record() { dc record "$results" "$@"; }
fixtures="$here/extract/tests/fixtures/tiny"
source "$here/scripts/device-check-steps.sh"

finish() {
  echo
  dc table "$results" | tee "$out/device-check.md"
  local rc=${PIPESTATUS[0]}
  tar -czf "$out/logs.tar.gz" -C "$work" logs 2>/dev/null
  echo "device-check: table in $out/device-check.md, logs in $out/logs.tar.gz"
  exit "$rc"
}

step_environment || finish
step_tiny_parity
step_full_parity_and_speed
step_heads
step_finetune
finish
