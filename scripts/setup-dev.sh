#!/usr/bin/env bash
# Creates .venv (git-ignored) with `just`, pyarrow and the converter's Python packages, pinned in
# tools/requirements-dev.txt, and the dataframe libraries of the cache interop test, pinned in
# tools/requirements-interop.txt. Reaches only PyPI. Idempotent: reinstalls only when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."
reqs=(tools/requirements-dev.txt tools/requirements-interop.txt)
stamp=.venv/.requirements-dev.sha256
want=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "${reqs[@]/#/-r}"
echo "$want" > "$stamp"
echo "setup-dev: .venv ready ($(.venv/bin/just --version))"
