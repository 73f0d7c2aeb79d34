"""Tests of scripts/gpu-check.sh's argument handling and device detection (no GPU needed: a fake
`nvidia-smi` stands in through NVIDIA_SMI) and of tools/gpu_check.py's checks on tiny inputs made
here. Expected values are computed by hand in the comments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"
sys.path.insert(0, str(ROOT / "tools"))
import gpu_check  # noqa: E402


def run_script(tmp_path, *args, smi=None):
    """Runs gpu-check.sh with OUT in tmp_path and NVIDIA_SMI set to `smi` (default: missing)."""
    env = dict(os.environ, NVIDIA_SMI=str(smi or tmp_path / "missing" / "nvidia-smi"))
    return subprocess.run(
        ["bash", str(SCRIPT), "--out", str(tmp_path / "out"), *args],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )


def fake_smi(tmp_path, listing, rc=0):
    """An executable nvidia-smi printing `listing` for -L and exiting with rc."""
    path = tmp_path / "nvidia-smi"
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{listing}\nEOF\nexit {rc}\n")
    path.chmod(0o755)
    return path


def test_help_prints_usage_and_exits_0(tmp_path):
    r = run_script(tmp_path, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("One command that proves the GPU path")
    assert "Usage: scripts/gpu-check.sh [--device cuda|cuda:N]" in r.stdout
    assert "Exit codes: 0 all passed, 1 a check failed, 2 no CUDA device, 64 bad arguments." in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frobnicate"], "gpu-check: unknown argument '--frobnicate' (see --help)"),
        (["--device", "cpu"], "gpu-check: --device 'cpu': expected cuda or cuda:N (see --help)"),
        (["--device", "cuda:x"], "gpu-check: --device 'cuda:x': expected cuda or cuda:N with N an integer (see --help)"),
        (["--device"], "gpu-check: --device needs a value (see --help)"),
        (["--device", "--skip-build"], "gpu-check: --device needs a value (see --help)"),
        (["--seeds", "0"], "gpu-check: --seeds '0': expected a positive integer (see --help)"),
    ],
)
def test_bad_arguments_exit_64_with_one_line(tmp_path, args, message):
    r = run_script(tmp_path, *args)
    assert (r.returncode, r.stderr, r.stdout) == (64, message + "\n", "")


def test_no_driver_stops_at_once_with_exit_2(tmp_path):
    r = run_script(tmp_path, "--device", "cuda:1")
    assert r.returncode == 2
    assert r.stderr == "gpu-check: no CUDA device: nvidia-smi not found (no NVIDIA driver on this machine)\n"
    # Nothing was built or written before the device check.
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["GPU", "Cuda:1", "gpu:1"])
def test_device_names_as_the_binaries_take_them(tmp_path, name):
    # Same names as `--device` of the binaries (case-insensitive, gpu = cuda): past the argument
    # check, then stopped by the missing driver (not exit 64).
    r = run_script(tmp_path, "--device", name)
    assert (r.returncode, r.stderr) == (2, "gpu-check: no CUDA device: nvidia-smi not found (no NVIDIA driver on this machine)\n")


def test_driver_without_gpu_exits_2(tmp_path):
    # What nvidia-smi prints (exit 6) when the driver is loaded but sees no GPU.
    smi = fake_smi(tmp_path, "No devices were found", rc=6)
    r = run_script(tmp_path, smi=smi)
    assert (r.returncode, r.stderr) == (2, "gpu-check: no CUDA device: nvidia-smi failed (driver not loaded, or no GPU)\n")


def test_ordinal_past_the_listed_gpus_exits_2(tmp_path):
    smi = fake_smi(tmp_path, "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)")
    r = run_script(tmp_path, "--device", "GPU:3", smi=smi)
    assert (r.returncode, r.stderr) == (2, "gpu-check: no CUDA device: cuda:3 asked for, nvidia-smi lists 1 GPU(s)\n")
    assert not (tmp_path / "out").exists()


def test_driver_older_than_the_ptx_exits_1_before_building(tmp_path):
    # nvidia-smi of a 570 driver (CUDA 12.8): it cannot load PTX from CUDA 13.0, the pinned toolkit.
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\ncase \"$1\" in\n"
        "  -L) echo 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-00000000-0000-0000-0000-000000000000)' ;;\n"
        "  --query-gpu=*) echo 'NVIDIA H100 80GB HBM3, 570.86.15, 9.0, 81559 MiB' ;;\n"
        "esac\n"
    )
    smi.chmod(0o755)
    r = run_script(tmp_path, smi=smi)
    assert r.returncode == 1
    assert r.stderr == (
        "gpu-check: driver 570.86.15 is older than 580, the first that loads the CUDA 13.0 PTX of "
        "this build (scripts/setup-cuda.sh); update the driver\n"
    )
    assert "cuda:0 = NVIDIA H100 80GB HBM3 (driver 570.86.15, compute capability 9.0, 81559 MiB)" in r.stdout
    assert not (tmp_path / "out" / "build.log").exists()


def write_cache(folder: Path, rows):
    """A one-part feature cache: rows of (id, x_v, x_s or None), 2-d vectors."""
    folder.mkdir()
    vec = pa.list_(pa.float32(), 2)
    table = pa.table({
        "id": pa.array([r[0] for r in rows], pa.string()),
        "x_v": pa.array([r[1] for r in rows], vec),
        "x_s": pa.array([r[2] for r in rows], vec),
    })
    pq.write_table(table, folder / "part-00000-of-00001.parquet")
    return folder


def test_compare_caches_reports_the_smallest_row_cosines(tmp_path):
    ref = write_cache(tmp_path / "ref", [("a", [1, 0], [0, 2]), ("b", [1, 1], None), ("c", [2, 0], [3, 4])])
    got = write_cache(tmp_path / "got", [("c", [3, 0], [4, 3]), ("a", [1, 0], [0, 1]), ("b", [1, 0], None)])
    # x_v: a 1; b [1,1]·[1,0] / √2 = 0.707107; c 1.  x_s: a 1; c (12+12)/25 = 0.96; b has none.
    ok, msg = gpu_check.compare_caches(ref, got, 0.9999)
    assert not ok
    assert msg == "3 rows: min cosine x_v 0.707107, x_s 0.960000 (2 with text); need >= 0.9999"
    assert gpu_check.compare_caches(ref, got, 0.7)[0]


def test_compare_caches_fails_on_different_rows_or_text(tmp_path):
    ref = write_cache(tmp_path / "ref", [("a", [1, 0], [0, 2]), ("b", [1, 1], None)])
    other_ids = write_cache(tmp_path / "ids", [("a", [1, 0], [0, 2]), ("z", [1, 1], None)])
    ok, msg = gpu_check.compare_caches(ref, other_ids, 0.5)
    assert not ok and msg.startswith("row ids differ: 1 only in")
    text_lost = write_cache(tmp_path / "text", [("a", [1, 0], None), ("b", [1, 1], None)])
    ok, msg = gpu_check.compare_caches(ref, text_lost, 0.5)
    assert (ok, msg) == (False, "x_s present in one cache only for ids ['a'] (1 rows)")
    with pytest.raises(gpu_check.InputError):
        gpu_check.compare_caches(ref, tmp_path, 0.5)


SUMMARY = """extracted to runs/gpu-check/cache-cuda-bf16
  parts: 1 written, 0 already done, 1 in the cache (complete)
  rows written by this run: train 300, val 50, test 64 (350 with text x_s); skipped bad images: 0; truncated texts: 2
  dims: x_v 512, x_s 384
  time: 0.8 s, 517.50 images/s
  split: decode 0.7 s (waited 0.1 s for the model) | model: image forward 0.3 s, text forward 0.4 s, write 0.1 s (waited 0.2 s for decoding)
"""


def test_extract_speed_reads_the_summary():
    # 517.50 images/s as printed; texts: 350 embedded in 0.4 s of text forward = 875 texts/s.
    images, texts = gpu_check.extract_speed(SUMMARY)
    assert images == 517.5
    assert texts == pytest.approx(875.0)
    with pytest.raises(gpu_check.InputError):
        gpu_check.extract_speed("error: no CUDA device 0")


def write_run(folder: Path, metrics):
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def mode_metrics(test_top1s, n=50, epochs=10):
    seeds = [{"seed": i, "val": {"top1": 0, "top5": 0}, "test": {"top1": t, "top5": 0}} for i, t in enumerate(test_top1s)]
    m = {"test": {"top1": sum(test_top1s) / len(test_top1s), "n": n}, "epochs_run": epochs}
    if len(seeds) > 1:
        m["per_seed"] = seeds
    return m


def test_compare_heads_allows_two_std_plus_one_test_sample(tmp_path):
    # CPU seeds 80, 82, 84: mean 82, sample std 2; 50 test rows: one sample = 2 points;
    # allowed |diff| = 2·2 + 2 = 6.  GPU 87.5 (diff 5.5) passes, 88.5 (diff 6.5) fails.
    cpu = write_run(tmp_path / "cpu", {"fusion": mode_metrics([80, 82, 84]), "ema": mode_metrics([70, 70, 70])})
    near = write_run(tmp_path / "near", {"fusion": mode_metrics([87.5]), "ema": mode_metrics([71.9])})
    far = write_run(tmp_path / "far", {"fusion": mode_metrics([88.5]), "ema": mode_metrics([70])})
    ok, lines = gpu_check.compare_heads(cpu, near)
    assert ok, lines
    assert lines[0] == "fusion: test top-1 GPU 87.50 vs CPU 82.00 ± 2.00 (|diff| 5.50, allowed 6.00: pass)"
    # ema: seeds agree (std 0): allowed = one test sample = 2 points; 71.9 is within.
    assert lines[1] == "ema: test top-1 GPU 71.90 vs CPU 70.00 ± 0.00 (|diff| 1.90, allowed 2.00: pass)"
    ok, lines = gpu_check.compare_heads(cpu, far)
    assert not ok
    assert lines[-1] == "1 of 2 modes within the CPU seed spread"


def test_epoch_seconds_divides_mode_seconds_by_epochs(tmp_path):
    run = write_run(tmp_path / "run", {"baseline": mode_metrics([50], epochs=4), "fusion": mode_metrics([60], epochs=20)})
    log = (
        "training baseline (seed 42)\nbaseline: val top-1 50.00 %, test top-1 50.00 % (2.0 s)\n"
        "fusion: val top-1 60.00 %, test top-1 60.00 % (5.0 s)\nfusion: val top-1 61.00 %, test top-1 61.00 % (9.0 s)\n"
    )
    # baseline 2.0 s / 4 epochs = 0.5; fusion: the first seed's line, 5.0 s / 20 = 0.25.
    assert gpu_check.epoch_seconds(log, run) == {"baseline": 0.5, "fusion": 0.25}


def test_finetune_ok_needs_every_step_and_finite_losses(tmp_path):
    def run(name, steps, losses):
        d = tmp_path / name
        d.mkdir()
        (d / "finetune.json").write_text(json.dumps({"steps_done": steps, "history": [{"train_loss": x} for x in losses]}))
        return d

    assert gpu_check.finetune_ok(run("good", 20, [5.1, 4.8]), 20)[0]
    assert not gpu_check.finetune_ok(run("short", 19, [5.1]), 20)[0]
    # serde_json writes a NaN loss as null.
    assert not gpu_check.finetune_ok(run("nan", 20, [5.1, None]), 20)[0]


def test_table_marks_failures_and_counts(tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text(
        json.dumps({"check": "extract cuda:0 bf16", "pass": True, "detail": "min cosine 0.9995", "images_per_s": 2150.26,
                    "texts_per_s": 900.0, "s_per_epoch": None, "peak_mib": 20480.0}) + "\n"
        + json.dumps({"check": "finetune", "pass": False, "detail": "a|b"}) + "\n"
    )
    passed, text = gpu_check.table(results)
    lines = text.splitlines()
    assert not passed
    assert lines[2] == "| extract cuda:0 bf16 | pass | 2150.3 | 900.0 |  | 20480 | min cosine 0.9995 |"
    assert lines[3] == "| finetune | FAIL |  |  |  |  | a/b |"
    assert lines[-1] == "1 passed, 1 failed"


def test_setup_cuda_refuses_unknown_commands_before_installing(tmp_path):
    env = dict(os.environ, MARNET_CUDA_DIR=str(tmp_path / "cuda"))
    r = subprocess.run(["bash", str(ROOT / "scripts" / "setup-cuda.sh"), "compile"], capture_output=True, text=True,
                       env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert (r.returncode, r.stderr) == (2, "setup-cuda: unknown command 'compile' (expected: install, check, bins or build)\n")
    assert not (tmp_path / "cuda").exists()
