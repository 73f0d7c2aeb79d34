"""The offline GPU check's pieces that need no GPU and no torch (docs/gpu-device-kit.md): the kit's
file list, unpacking with sha256, the extraction-summary parser, the result table, and the
script's argument errors. The whole check runs as a CPU dry run in `just device-check-dry-run`
(`just device-check-dry-run-hf` adds the transformers steps)."""

import hashlib
import json
import lzma
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import device_check  # noqa: E402
import device_check_compare as compare  # noqa: E402


def test_files_only_kit_has_every_file_the_check_names(tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["bash", str(ROOT / "scripts/device-kit.sh"), "--files-only", str(kit)], check=True, cwd=ROOT)
    # Every `$here/...` path the check's scripts use, except the binaries (packed by the full kit)
    # and the dry run's own venv.
    text = (ROOT / "scripts/device-check.sh").read_text() + (ROOT / "scripts/device-check-steps.sh").read_text()
    named = set(re.findall(r"\$here/([A-Za-z0-9_./-]+)", text))
    named = {n.rstrip("/") for n in named if not n.startswith((".venv-device", "bin"))}
    assert named, "no paths found in the scripts"
    for n in sorted(named):
        assert (kit / n).exists(), f"the kit lacks {n}"
    # Python modules the helpers import from their own folder.
    for py in (kit / "tools").glob("*.py"):
        for mod in re.findall(r"^import (device_check\w*|gpu_check)", py.read_text(), re.M):
            assert (kit / "tools" / f"{mod}.py").exists(), f"{py.name} imports {mod}, not in the kit"
    assert (kit / "extract/tests/fixtures/tiny/golden/dinov2.safetensors").exists()


def test_unpack_checks_the_sha256_of_the_decompressed_file(tmp_path):
    kit_bin, dest = tmp_path / "bin", tmp_path / "out"
    kit_bin.mkdir()
    payload = b"\x7fELF not really a binary\n" * 100
    with lzma.open(kit_bin / "marnet-extract.xz", "wb") as f:
        f.write(payload)
    digest = hashlib.sha256(payload).hexdigest()
    (kit_bin / "SHA256SUMS").write_text(f"{digest}  marnet-extract\n")
    device_check.unpack(kit_bin, dest)
    assert (dest / "marnet-extract").read_bytes() == payload
    assert (dest / "marnet-extract").stat().st_mode & 0o111
    (kit_bin / "SHA256SUMS").write_text(f"{'0' * 64}  marnet-extract\n")
    with pytest.raises(compare.InputError, match="sha256"):
        device_check.unpack(kit_bin, dest)


def test_extract_figures_reads_the_run_summary():
    # The two lines marnet-extract prints at the end (extract/src/pipeline/summary.rs), with values
    # chosen so that model images/s = (100 + 20 + 8) images / 0.5 s = 256.0.
    log = (
        "extracted to caches/x\n"
        "  parts: 1 written, 0 already done, 1 in the cache (complete)\n"
        "  rows written by this run: train 100, val 20, test 8 (128 with text x_s); skipped bad images: 0; "
        "truncated texts: 0\n"
        "  dims: x_v 768, x_s 384\n"
        "  time: 2.0 s, 64.00 images/s\n"
        "  split: decode 1.5 s (waited 0.1 s for the model) | model: image forward 0.5 s, "
        "text forward 0.25 s, write 0.01 s (waited 0.75 s for decoding)\n"
    )
    figs = device_check.extract_figures(log)
    assert figs["images"] == 128
    assert figs["seconds"] == 2.0 and figs["images_per_s"] == 64.0
    assert figs["decode_s"] == 1.5 and figs["image_forward_s"] == 0.5 and figs["text_forward_s"] == 0.25
    assert figs["waited_for_decoding_s"] == 0.75
    assert figs["model_images_per_s"] == 256.0
    with pytest.raises(compare.InputError, match="no seconds"):
        device_check.extract_figures("extracted to x\n  rows written by this run: train 1, val 0, test 0\n")


def test_table_counts_and_fails_on_any_fail(tmp_path):
    results = tmp_path / "results.jsonl"
    device_check._record(results, "a", "pass", "fine", json.dumps({"images_per_s": 12.5}))
    device_check._record(results, "b | pipe", "SKIP", "no torch", "")
    failed, md = device_check.table(results)
    assert not failed
    assert "| a | pass | images per s 12.5 | fine |" in md
    assert "| b / pipe | SKIP |" in md
    assert md.endswith("1 passed, 0 failed, 1 skipped")
    device_check._record(results, "c", "FAIL", "wrong", "")
    failed, md = device_check.table(results)
    assert failed and md.endswith("1 passed, 1 failed, 1 skipped")
    with pytest.raises(compare.InputError, match="status"):
        device_check._record(results, "d", "ok", "", "")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--device", "tpu"], "expected cuda, cuda:N or cpu"),
        (["--device", "cuda:x"], "expected cuda:N"),
        (["--size", "huge"], "expected full or tiny"),
        (["--jobs", "0"], "expected a positive integer"),
        (["--out"], "--out needs a value"),
        (["--frobnicate"], "unknown argument"),
    ],
)
def test_bad_arguments_exit_64_with_a_message(args, message):
    r = subprocess.run(["bash", str(ROOT / "scripts/device-check.sh"), *args], capture_output=True, text=True)
    assert r.returncode == 64, r.stderr
    assert message in r.stderr
