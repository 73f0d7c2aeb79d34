"""The checks of scripts/device-check.sh: caches against goldens and transformers, fine-tuning.

Needs numpy, pyarrow and safetensors. A feature cache is DESIGN.md section 3 (part files with
`id`, `x_v`, `x_s`, x_s null where a row has no text); goldens are the safetensors files of
extract/tests/fixtures/tiny/golden (transformers 4.46.3, float32; tools/make_reference.py).
"""

import json
from pathlib import Path

import numpy as np


class InputError(Exception):
    """Input that cannot be checked (missing file, wrong layout): exit 2."""


def read_cache(folder):
    """(ids, x_v (n, D_v) float32, {id: x_s row}) over every part of a feature cache folder."""
    import pyarrow.parquet as pq

    parts = sorted(Path(folder).glob("part-*-of-*.parquet"))
    if not parts:
        raise InputError(f"{folder}: no part-*-of-*.parquet files (not a feature cache)")
    ids, x_v, x_s = [], [], {}
    for part in parts:
        t = pq.read_table(part, columns=["id", "x_v", "x_s"])
        part_ids = t.column("id").to_pylist()
        ids += part_ids
        x_v.append(np.asarray(t.column("x_v").to_pylist(), np.float32))
        for i, s in zip(part_ids, t.column("x_s").to_pylist()):
            if s is not None:
                x_s[i] = np.asarray(s, np.float32)
    return ids, np.concatenate(x_v), x_s


def row_cosines(a, b):
    """Per-row cosine of two (n, d) arrays (float64); 0 for an all-zero row."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1), 0.0)


def _verdict(name, got, want, min_cosine, max_abs):
    if got.shape != want.shape:
        return False, f"{name}: shape {got.shape} vs {want.shape}"
    cos = float(row_cosines(got, want).min()) if len(got) else 1.0
    diff = float(np.abs(got - want).max()) if len(got) else 0.0
    ok = (min_cosine is None or cos >= min_cosine) and (max_abs is None or diff <= max_abs)
    return ok, f"{name} {len(got)} rows: min cosine {cos:.6f}, max |diff| {diff:.2e}"


def compare_golden(cache, rows_json, golden_dir, image_golden, image_key, min_cosine=None, max_abs=None):
    """x_v of each tiny row against `image_golden[image_key]` row `image_row`, x_s against BERT's
    `mean_normalized` row `text_row` (rows_json from device_check_data.tiny_dataset).

    Returns (ok, message). A row with a golden text must have x_s, a row without must not.
    """
    from safetensors.numpy import load_file

    ids, x_v, x_s = read_cache(cache)
    rows = json.loads(Path(rows_json).read_text())
    gi = load_file(str(Path(golden_dir) / f"{image_golden}.safetensors"))[image_key]
    gt = load_file(str(Path(golden_dir) / "bert.safetensors"))["mean_normalized"]
    where = {i: k for k, i in enumerate(ids)}
    missing = [r["id"] for r in rows if r["id"] not in where]
    if missing:
        return False, f"rows missing from the cache: {missing}"
    ok_v, msg_v = _verdict("x_v", x_v[[where[r["id"]] for r in rows]], gi[[r["image_row"] for r in rows]],
                           min_cosine, max_abs)
    bad_text = [r["id"] for r in rows if (r["text_row"] is not None) != (r["id"] in x_s)]
    if bad_text:
        return False, f"{msg_v}; x_s present/absent wrongly for {bad_text}"
    texted = [r for r in rows if r["text_row"] is not None]
    ok_s, msg_s = _verdict("x_s", np.stack([x_s[r["id"]] for r in texted]), gt[[r["text_row"] for r in texted]],
                           min_cosine, max_abs)
    need = " and ".join(x for x in (min_cosine and f"cosine >= {min_cosine}", max_abs and f"|diff| <= {max_abs}") if x)
    return ok_v and ok_s, f"{msg_v}; {msg_s}; need {need}"


def compare_reference(cache, reference_npz, min_cosine):
    """Per-row cosine of the cache's x_v and x_s against transformers' (device_check_hf.reference)."""
    ids, x_v, x_s = read_cache(cache)
    ref = np.load(reference_npz)
    where = {i: k for k, i in enumerate(ids)}
    rid, sid = [str(i) for i in ref["ids"]], [str(i) for i in ref["s_ids"]]
    missing = [i for i in rid if i not in where] + [i for i in sid if i not in x_s]
    if missing:
        return False, f"{len(missing)} reference rows missing from the cache (first {missing[:3]})"
    if len(x_s) != len(sid):
        return False, f"the cache has x_s on {len(x_s)} rows, transformers on {len(sid)}"
    ok_v, msg_v = _verdict("x_v", x_v[[where[i] for i in rid]], ref["x_v"], min_cosine, None)
    ok_s, msg_s = _verdict("x_s", np.stack([x_s[i] for i in sid]), ref["x_s"], min_cosine, None)
    return ok_v and ok_s, f"{msg_v}; {msg_s}; need cosine >= {min_cosine}"


def val_top1(run):
    """Best val top-1 (percent) of a `marnet-heads finetune` run (finetune.json `best.val_top1`)."""
    path = Path(run) / "finetune.json"
    try:
        best = json.loads(path.read_text())["best"]["val_top1"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: no best.val_top1 ({e})") from e
    return float(best)


def finetune_learns(trainable_run, frozen_run, min_gap):
    """(ok, message): val top-1 of the trainable-backbone run beats the frozen one by >= min_gap points."""
    a, b = val_top1(trainable_run), val_top1(frozen_run)
    return a - b >= min_gap, f"val top-1 trainable backbone {a:.1f} % vs frozen {b:.1f} % (gap {a - b:.1f}, need >= {min_gap})"
