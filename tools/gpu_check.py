#!/usr/bin/env python3
"""Checks and the result table of scripts/gpu-check.sh (docs/gpu.md). Needs pyarrow (.venv).

Subcommands (each prints one line per result; exit 1 when a check fails, 2 on unusable input):
  compare-caches REF GOT --min-cosine C   per-row cosine of x_v and x_s, rows matched by id
  extract-speed SUMMARY_LOG               images/s and texts/s from `marnet-extract run`'s summary
  compare-heads CPU_RUN GPU_RUN           per-mode test top-1 against the CPU run's seed spread
  epoch-seconds TRAIN_LOG RUN             seconds per epoch per mode of `marnet-heads train`
  finetune-ok RUN STEPS                   finetune.json: STEPS steps done, every loss finite
  table RESULTS_JSONL                     the one table: a row per check, then overall pass/fail

The cache layout is DESIGN.md section 3 (`part-NNNNN-of-NNNNN.parquet`, columns id, x_v, x_s with
x_s null where a sample has no text); metrics.json is docs/INTERFACES.md (marnet-heads).
"""

import argparse
import json
import math
import re
import sys
from pathlib import Path


class InputError(Exception):
    """Input that cannot be checked (missing file, wrong layout): exit 2."""


def read_cache(folder):
    """id -> (x_v, x_s or None) over every part file of a feature cache folder."""
    import pyarrow.parquet as pq

    parts = sorted(Path(folder).glob("part-*-of-*.parquet"))
    if not parts:
        raise InputError(f"{folder}: no part-*-of-*.parquet files (not a feature cache)")
    rows = {}
    for part in parts:
        table = pq.read_table(part, columns=["id", "x_v", "x_s"])
        for i, v, s in zip(*(table.column(c).to_pylist() for c in ("id", "x_v", "x_s"))):
            if i in rows:
                raise InputError(f"{part}: id {i!r} appears twice in the cache")
            rows[i] = (v, s)
    return rows


def cosine(a, b):
    """Cosine of two equal-length vectors; 0 when either is all zeros."""
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


def compare_caches(ref, got, min_cosine):
    """Returns (ok, message): min per-row cosine of x_v and x_s between two caches."""
    a, b = read_cache(ref), read_cache(got)
    if a.keys() != b.keys():
        only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
        return False, f"row ids differ: {len(only_a)} only in {ref} (first {only_a[:3]}), {len(only_b)} only in {got} (first {only_b[:3]})"
    min_v, min_s, n_s, text_mismatch = 1.0, 1.0, 0, []
    for i, (v_a, s_a) in a.items():
        v_b, s_b = b[i]
        min_v = min(min_v, cosine(v_a, v_b))
        if (s_a is None) != (s_b is None):
            text_mismatch.append(i)
        elif s_a is not None:
            n_s += 1
            min_s = min(min_s, cosine(s_a, s_b))
    if text_mismatch:
        return False, f"x_s present in one cache only for ids {text_mismatch[:3]} ({len(text_mismatch)} rows)"
    ok = min_v >= min_cosine and min_s >= min_cosine
    msg = f"{len(a)} rows: min cosine x_v {min_v:.6f}, x_s {min_s:.6f} ({n_s} with text); need >= {min_cosine}"
    return ok, msg


SPEED = re.compile(r"time: ([0-9.]+) s, ([0-9.]+) images/s")
TEXTS = re.compile(r"\((\d+) with text x_s\)")
TEXT_SECONDS = re.compile(r"text forward ([0-9.]+) s")


def extract_speed(log_text):
    """(images/s, texts/s) from the summary `marnet-extract run` prints (pipeline/summary.rs).

    texts/s is texts embedded over the seconds of text forward passes (the summary's split line).
    """
    speed, texts, text_s = SPEED.search(log_text), TEXTS.search(log_text), TEXT_SECONDS.search(log_text)
    if not (speed and texts and text_s):
        raise InputError("no `time: ... images/s`, `(N with text x_s)` and `text forward ... s` in the extraction log")
    seconds = float(text_s.group(1))
    texts_per_s = int(texts.group(1)) / seconds if seconds > 0 else 0.0
    return float(speed.group(2)), texts_per_s


def load_metrics(run):
    path = Path(run) / "metrics.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}") from e


def seed_values(mode_metrics):
    """Test top-1 (percent) of every seed of one mode's metrics.json entry."""
    if "per_seed" in mode_metrics:
        return [s["test"]["top1"] for s in mode_metrics["per_seed"]]
    return [mode_metrics["test"]["top1"]]


def compare_heads(cpu_run, gpu_run):
    """Per mode: |GPU mean - CPU mean| of test top-1 <= 2 * CPU seed std + one test sample.

    One test sample is 100 / n percent: with a single seed, or seeds that agree, the runs may
    still differ by one borderline prediction. Returns (ok, lines).
    """
    cpu, gpu = load_metrics(cpu_run), load_metrics(gpu_run)
    lines, passed = [], 0
    for mode, c in cpu.items():
        if mode not in gpu:
            lines.append(f"{mode}: missing from {gpu_run}/metrics.json")
            continue
        cv, gv = seed_values(c), seed_values(gpu[mode])
        c_mean, g_mean = sum(cv) / len(cv), sum(gv) / len(gv)
        c_std = math.sqrt(sum((x - c_mean) ** 2 for x in cv) / (len(cv) - 1)) if len(cv) > 1 else 0.0
        allowed = 2 * c_std + 100.0 / c["test"]["n"]
        good = abs(g_mean - c_mean) <= allowed
        passed += good
        lines.append(
            f"{mode}: test top-1 GPU {g_mean:.2f} vs CPU {c_mean:.2f} ± {c_std:.2f} "
            f"(|diff| {abs(g_mean - c_mean):.2f}, allowed {allowed:.2f}: {'pass' if good else 'FAIL'})"
        )
    lines.append(f"{passed} of {len(cpu)} modes within the CPU seed spread")
    return passed == len(cpu), lines


TRAINED = re.compile(r"^(\w+): val top-1 [0-9.]+ %, test top-1 [0-9.]+ % \(([0-9.]+) s\)$", re.M)


def epoch_seconds(log_text, run):
    """mode -> seconds per epoch of its first seed (train log line / metrics.json epochs_run)."""
    metrics = load_metrics(run)
    out = {}
    for mode, seconds in TRAINED.findall(log_text):
        if mode in metrics and mode not in out:
            out[mode] = float(seconds) / max(1, metrics[mode]["epochs_run"])
    if not out:
        raise InputError("no `MODE: val top-1 ... (S s)` lines in the training log")
    return out


def finetune_ok(run, steps):
    """(ok, message): finetune.json records `steps` steps and only finite training losses."""
    path = Path(run) / "finetune.json"
    try:
        f = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}") from e
    losses = [h.get("train_loss") for h in f.get("history", [])]
    finite = bool(losses) and all(isinstance(x, (int, float)) and math.isfinite(x) for x in losses)
    ok = f.get("steps_done") == steps and finite
    return ok, f"steps {f.get('steps_done')} of {steps} asked, losses {losses}"


COLUMNS = ["check", "result", "images/s", "texts/s", "s/epoch", "peak GPU MiB", "detail"]


def table(results_path):
    """(all_passed, markdown table) from the JSON lines gpu-check.sh wrote, one per check."""
    rows = [json.loads(line) for line in Path(results_path).read_text().splitlines() if line.strip()]
    if not rows:
        raise InputError(f"{results_path}: no results")
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [
            r["check"],
            "pass" if r["pass"] else "FAIL",
            fmt(r.get("images_per_s")),
            fmt(r.get("texts_per_s")),
            fmt(r.get("s_per_epoch"), 3),
            fmt(r.get("peak_mib"), 0),
            r.get("detail", "").replace("|", "/"),
        ]
        out.append("| " + " | ".join(cells) + " |")
    passed = all(r["pass"] for r in rows)
    out.append("")
    out.append(f"{sum(r['pass'] for r in rows)} passed, {sum(not r['pass'] for r in rows)} failed")
    return passed, "\n".join(out)


def fmt(x, digits=1):
    return "" if x is None or x == "" else f"{float(x):.{digits}f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare-caches")
    c.add_argument("ref")
    c.add_argument("got")
    c.add_argument("--min-cosine", type=float, required=True)
    sub.add_parser("extract-speed").add_argument("log")
    h = sub.add_parser("compare-heads")
    h.add_argument("cpu_run")
    h.add_argument("gpu_run")
    e = sub.add_parser("epoch-seconds")
    e.add_argument("log")
    e.add_argument("run")
    f = sub.add_parser("finetune-ok")
    f.add_argument("run")
    f.add_argument("steps", type=int)
    sub.add_parser("table").add_argument("results")
    a = p.parse_args(argv)
    try:
        if a.cmd == "compare-caches":
            ok, msg = compare_caches(a.ref, a.got, a.min_cosine)
            print(msg)
        elif a.cmd == "extract-speed":
            images, texts = extract_speed(Path(a.log).read_text())
            print(json.dumps({"images_per_s": round(images, 2), "texts_per_s": round(texts, 2)}))
            ok = True
        elif a.cmd == "compare-heads":
            ok, lines = compare_heads(a.cpu_run, a.gpu_run)
            print("\n".join(lines))
        elif a.cmd == "epoch-seconds":
            print(json.dumps({k: round(v, 4) for k, v in epoch_seconds(Path(a.log).read_text(), a.run).items()}))
            ok = True
        elif a.cmd == "finetune-ok":
            ok, msg = finetune_ok(a.run, a.steps)
            print(msg)
        else:
            ok, text = table(a.results)
            print(text)
    except (InputError, OSError) as e:
        print(f"gpu_check: {e}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
