#!/usr/bin/env bash
# The CUDA build without a GPU (docs/gpu.md; DESIGN.md section 8 "CUDA build without a GPU").
#
# Installs NVIDIA's CUDA 13.0 toolkit pieces from PyPI (pinned below) into .cuda/ (git-ignored),
# writes .cuda/env.sh that points candle's build at them, then, depending on the command:
#
#   bash scripts/setup-cuda.sh            install only, print what env.sh exports
#   bash scripts/setup-cuda.sh check      `cargo check --workspace --all-targets --features cuda`
#                                         (compiles candle's CUDA kernels to PTX; links nothing)
#   bash scripts/setup-cuda.sh bins       `cargo build --release --features cuda` of marnet-extract
#                                         and marnet-heads only (what `just device-kit` packs)
#   bash scripts/setup-cuda.sh build      `cargo build --release --features cuda` of marnet-extract
#                                         and marnet-heads, then `cargo test --release --features cuda --no-run`
#                                         (the release profile, so the dependencies are built once)
#
# Builds go to target/cuda so the CPU build in target/ is not invalidated. Needs python3 with pip, a
# C++ compiler (nvcc's host compiler) and cargo; no GPU and no driver.
#
# What PyPI lacks: libcuda, the driver API, belongs to the NVIDIA driver and is in no PyPI wheel
# (the toolkit's lib64/stubs/libcuda.so is not in nvidia-cuda-runtime either). candle 0.11.1 turns
# on cudarc's `dynamic-linking` (cudarc panics if `dynamic-loading` is added next to it), so the
# final link needs a libcuda. The script generates the same kind of link-time stub the toolkit
# ships: every `cu*` function that the pinned cuda.h declares, each returning
# CUDA_ERROR_STUB_LIBRARY (34), soname libcuda.so.1, in .cuda/.../lib/stubs. The binaries record
# only the soname; at run time the driver's own libcuda.so.1 is loaded (the stubs folder is never
# put on LD_LIBRARY_PATH by env.sh).
#
# Environment: MARNET_CUDA_DIR (default .cuda), CUDA_COMPUTE_CAP (candle's kernels are compiled
# for that one architecture, e.g. 90 = H100/H200, 80 = A100, 89 = L4/RTX 40xx, 120 = RTX 50xx; CUDA
# 13 needs 75 or more; default: GPU 0's if nvidia-smi answers, else 90), CARGO_TARGET_DIR (default
# target/cuda).
set -euo pipefail
cd "$(dirname "$0")/.."

# CUDA 13.0 (the versions of PyPI's `cuda-toolkit==13.0.2` metapackage). Why 13.0 and not newer:
# candle's kernels are compiled to PTX, which the driver compiles at load time, and a driver accepts
# PTX only up to its own CUDA version (newer PTX fails with CUDA_ERROR_UNSUPPORTED_PTX_VERSION, "the
# provided PTX was compiled with an unsupported toolchain"; NVIDIA/nvbandwidth#61: 13.2 PTX on
# driver 580). 13.0 is the oldest CUDA 13, so the build runs on every driver of the CUDA 13 branch
# (580 and newer). CUDA 12 is no alternative here:
# PyPI's nvidia-cuda-nvcc-cu12 wheels carry ptxas but not the nvcc driver (DESIGN.md section 8).
CUDA_VERSION_CUDARC=13000
COMPILER_WHEELS=(
  nvidia-cuda-nvcc==13.0.88     # nvcc, ptxas, fatbinary, nvlink, cudafe++
  nvidia-nvvm==13.0.88          # cicc (nvcc's device front end), libdevice
  nvidia-cuda-crt==13.0.88      # crt/ headers nvcc includes
  nvidia-cuda-runtime==13.0.96  # cuda_runtime.h, cuda.h, cuda_fp16.h, libcudart.so.13
  nvidia-cuda-cccl==13.0.85     # nv/target, cuda/std (included by cuda_fp16.h and cuda_bf16.h)
)
LIBRARY_WHEELS=(
  nvidia-cuda-nvrtc==13.0.88    # libnvrtc.so: cudarc names it at link time (the binaries do not load it)
  nvidia-cublas==13.1.0.3       # libcublas.so.13, libcublasLt.so.13
  nvidia-curand==10.4.0.35      # libcurand.so.10
)

mode="${1:-install}"
case "$mode" in
  install|check|bins|build) ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  *) echo "setup-cuda: unknown command '$mode' (expected: install, check, bins or build)" >&2; exit 2 ;;
esac

dir="${MARNET_CUDA_DIR:-$PWD/.cuda}"
root="$dir/py/nvidia/cu13"
wheels=("${COMPILER_WHEELS[@]}")
[ "$mode" = check ] || wheels+=("${LIBRARY_WHEELS[@]}")
# The stamp names the compiler pins and whether the library wheels are there too: `check` needs
# only the first to match, `install`/`build` both (so a pin change always reinstalls).
compilers=$(printf '%s\n' "${COMPILER_WHEELS[@]}" | sha256sum | cut -d' ' -f1)
libraries=$(printf '%s\n' "${LIBRARY_WHEELS[@]}" | sha256sum | cut -d' ' -f1)
if [ "$mode" = check ]; then want="$compilers -"; else want="$compilers $libraries"; fi
stamp="$dir/.installed.sha256"

install_wheels() {
  # One pip call: all wheels share the nvidia/cu13 tree, which pip --target merges only within a call.
  local have=""
  [ -f "$stamp" ] && have=$(cat "$stamp")
  if [ -x "$root/bin/nvcc" ] && { [ "$have" = "$want" ] || { [ "$mode" = check ] && [ "${have%% *}" = "$compilers" ]; }; }; then
    return
  fi
  command -v python3 >/dev/null || { echo "setup-cuda: python3 (with pip) is needed to fetch the toolkit wheels" >&2; exit 1; }
  rm -rf "$dir/py"
  mkdir -p "$dir"
  local t0=$SECONDS
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-cache-dir --no-deps --only-binary=:all: \
    --target "$dir/py" "${wheels[@]}"
  echo "setup-cuda: installed ${#wheels[@]} wheels into $dir/py in $((SECONDS - t0)) s ($(du -sh "$dir/py" | cut -f1))"
  echo "$want" > "$stamp"
}

link_names() {
  # The wheels ship only versioned sonames (libcublas.so.13); the linker's -lcublas needs libcublas.so.
  local so base
  for so in "$root"/lib/lib*.so.*; do
    base="${so%%.so.*}.so"
    [ -e "$base" ] || ln -s "$(basename "$so")" "$base"
  done
}

driver_stub() {
  # See the header: libcuda is the driver's, not on PyPI. Generated from the pinned cuda.h.
  local stubs="$root/lib/stubs"
  [ -f "$stubs/libcuda.so" ] && [ "$stubs/libcuda.so" -nt "$root/include/cuda.h" ] && return
  mkdir -p "$stubs"
  echo "setup-cuda: libcuda (NVIDIA driver API) is not on PyPI; generating a link-time stub from $root/include/cuda.h"
  cc -E -P -I "$root/include" "$root/include/cuda.h" | tr '\n' ' ' \
    | grep -oE '\bCUresult[[:space:]]+(CUDAAPI[[:space:]]+)?cu[A-Za-z0-9_]+[[:space:]]*\(' \
    | grep -oE 'cu[A-Za-z0-9_]+[[:space:]]*\($' | tr -d ' (' | sort -u \
    | awk 'BEGIN { print "/* Generated by scripts/setup-cuda.sh from cuda.h: link-time stub, every call fails. */" }
           { printf "int %s(void) { return 34; /* CUDA_ERROR_STUB_LIBRARY */ }\n", $0 }' > "$stubs/libcuda_stub.c"
  local n
  n=$(grep -c '^int ' "$stubs/libcuda_stub.c")
  [ "$n" -gt 100 ] || { echo "setup-cuda: found only $n driver functions in cuda.h; the header format changed" >&2; exit 1; }
  cc -shared -fPIC -O0 -w -Wl,-soname,libcuda.so.1 -o "$stubs/libcuda.so" "$stubs/libcuda_stub.c"
  echo "setup-cuda: $stubs/libcuda.so: $n functions (link time only; the driver's libcuda.so.1 is used at run time)"
}

compute_cap() {
  # CUDA_COMPUTE_CAP as given, else GPU 0's (nvidia-smi prints 9.0), else 90.
  local cap=""
  if [ -n "${CUDA_COMPUTE_CAP:-}" ]; then echo "$CUDA_COMPUTE_CAP"; return; fi
  command -v nvidia-smi >/dev/null 2>&1 && cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader -i 0 2>/dev/null | tr -d ' .')
  if [[ "$cap" =~ ^[0-9]+$ ]]; then
    echo "setup-cuda: CUDA_COMPUTE_CAP=$cap, GPU 0's (nvidia-smi)" >&2
  else
    cap=90
    echo "setup-cuda: CUDA_COMPUTE_CAP=90 (H100/H200; no GPU answered nvidia-smi here): set CUDA_COMPUTE_CAP for another GPU" >&2
  fi
  echo "$cap"
}

write_env() {
  local cap
  cap=$(compute_cap)
  cat > "$dir/env.sh" <<EOF
# Written by scripts/setup-cuda.sh: source it to build or run marnet with --features cuda.
export CUDA_ROOT="$root" CUDA_PATH="$root" CUDA_HOME="$root"
export NVCC="$root/bin/nvcc"
export PATH="$root/bin:\$PATH"
export CUDARC_CUDA_VERSION=$CUDA_VERSION_CUDARC
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-$cap}"
export CARGO_TARGET_DIR="\${CARGO_TARGET_DIR:-$PWD/target/cuda}"
# Run time: cudart, cublas, curand, nvrtc from the wheels; libcuda.so.1 from the installed driver.
export LD_LIBRARY_PATH="$root/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
}

stale_target() {
  # candle's build script does not rerun when nvcc changes (it watches the .cu files and
  # CUDA_COMPUTE_CAP), so a target folder built with another toolkit would keep that toolkit's PTX.
  # Removing candle-kernels' build output and fingerprints makes cargo rerun it (and rebuild what
  # depends on it); nothing else in the folder is touched.
  local tk="$CARGO_TARGET_DIR/.cuda-toolkit"
  if [ -f "$tk" ] && [ "$(cat "$tk")" != "$CUDA_VERSION_CUDARC" ]; then
    echo "setup-cuda: $CARGO_TARGET_DIR holds candle kernels from CUDA $(cat "$tk"), not $CUDA_VERSION_CUDARC; rebuilding them"
    rm -rf "$CARGO_TARGET_DIR"/*/build/candle-kernels-* "$CARGO_TARGET_DIR"/*/.fingerprint/candle-kernels-*
  fi
  mkdir -p "$CARGO_TARGET_DIR"
  echo "$CUDA_VERSION_CUDARC" > "$tk"
}

install_wheels
link_names
[ "$mode" = check ] || driver_stub
write_env
# shellcheck disable=SC1091
source "$dir/env.sh"
[ "$mode" = install ] || stale_target
command -v c++ >/dev/null || { echo "setup-cuda: nvcc needs a host C++ compiler (c++) on PATH" >&2; exit 1; }

case "$mode" in
  install)
    echo "setup-cuda: toolkit ready ($(nvcc --version | grep -o 'release [0-9.]*')); source $dir/env.sh to use it:"
    grep '^export' "$dir/env.sh" ;;
  check)
    t0=$SECONDS
    cargo check --workspace --all-targets --features marnet-extract/cuda,marnet-heads/cuda
    echo "setup-cuda: cargo check --features cuda passed in $((SECONDS - t0)) s (target: $CARGO_TARGET_DIR)" ;;
  bins)
    t0=$SECONDS
    cargo build --release -p marnet-extract -p marnet-heads --features marnet-extract/cuda,marnet-heads/cuda
    echo "setup-cuda: cuda binaries built in $((SECONDS - t0)) s in $CARGO_TARGET_DIR/release" ;;
  build)
    t0=$SECONDS
    cargo build --release -p marnet-extract -p marnet-heads --features marnet-extract/cuda,marnet-heads/cuda
    cargo test --workspace --release --no-run --features marnet-extract/cuda,marnet-heads/cuda
    echo "setup-cuda: cuda build passed in $((SECONDS - t0)) s; binaries in $CARGO_TARGET_DIR/release"
    echo "setup-cuda: they need the NVIDIA driver's libcuda.so.1 to start; run them after: source $dir/env.sh" ;;
esac
