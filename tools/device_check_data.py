"""Inputs that scripts/device-check.sh makes on the spot: datasets and a feature cache.

Everything is deterministic (numpy Generator seeded from the arguments), so a rerun on the same
machine writes the same files. Dataset manifests follow DESIGN.md section 4 (JSONL with
`file_name` relative to the manifest, `text`, `label`, `split`); the synthetic cache follows
DESIGN.md section 3 (part files with `id`, `split`, `label`, `x_v`, `x_s` and the `marnet.*`
schema metadata, copied from a cache that marnet-extract wrote in the same run).
"""

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

# The tiny parity rows: (fixture image, its row in the golden batch, text index in texts.json or
# None). Only PNGs: the image crate and Pillow decode them identically and the resampler is an
# exact port, so f32 x_v must match the goldens to 1e-4; JPEG decoders differ by up to 2 levels
# of 255 (extract/tests/parity_support). The golden batch holds the sorted fixture images:
# cmyk_32x32.jpg, exact_32x32.png, gradient_64x48.png, grey_40x30.png, palette_24x20.png,
# photo_96x80.jpg, photo_96x80.png, rgba_50x50.png, wide_448x224.png.
TINY_ROWS = [
    ("exact_32x32.png", 1, 0),
    ("gradient_64x48.png", 2, 1),
    ("grey_40x30.png", 3, 3),
    ("palette_24x20.png", 4, 4),  # text 4 is longer than the tiny BERT's 48 tokens: truncated
    ("photo_96x80.png", 6, 0),
    ("rgba_50x50.png", 7, None),
    ("wide_448x224.png", 8, 1),
]

WORDS = (
    "spicy fried rice with egg and green onion steamed fish ginger garlic noodle soup chicken beef "
    "pork tofu sweet sour salt sugar oil pepper red hot cold boiled food dish bowl plate"
).split()


def write_manifest(folder, rows):
    """Writes `folder/manifest.jsonl` from dicts with file_name, text, label, split (temp + rename)."""
    path = Path(folder) / "manifest.jsonl"
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)
    return path


def tiny_dataset(fixtures, out):
    """The tiny parity dataset: PNG fixture images with golden texts, all train/val (x_s kept).

    Returns the manifest path; `out/rows.json` lists (id, golden image row, golden text row).
    """
    import shutil

    fixtures, out = Path(fixtures), Path(out)
    texts = json.loads((fixtures / "golden/texts.json").read_text())["texts"]
    (out / "img").mkdir(parents=True, exist_ok=True)
    rows, index = [], []
    for i, (image, g, t) in enumerate(TINY_ROWS):
        shutil.copyfile(fixtures / "images" / image, out / "img" / image)
        text = "" if t is None else texts[t]
        rows.append({"file_name": f"img/{image}", "text": text, "label": i % 2, "split": "val" if i == 2 else "train"})
        index.append({"id": f"img/{image}", "image_row": g, "text_row": t})
    (out / "rows.json").write_text(json.dumps(index, indent=1))
    return write_manifest(out, rows)


def _text(rng, n_words):
    return " ".join(rng.choice(WORDS, size=n_words)) + "."


def _photo(args):
    """One photo-like image: smooth colour field plus noise (JPEG sizes like real photos)."""
    path, w, h, seed, quality = args
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(0.5, 6, 2).tolist() + [rng.uniform(0, 6.3)]
        img[..., c] = 128 + 90 * np.sin(xx / w * fx * 6.28 + ph) * np.cos(yy / h * fy * 6.28)
    img += rng.normal(0, 12, img.shape)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if str(path).endswith(".png"):
        im.save(path)
    else:
        im.save(path, quality=quality)
    return path


def photo_dataset(out, n, width, height, ext, seed, jobs):
    """`n` synthetic photos `width`x`height` (ext jpg or png), 10 classes, a text per train/val row.

    Splits: 80 % train, 10 % val, 10 % test (test rows get no x_s in the cache). Returns the
    manifest path.
    """
    out = Path(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, jobs_args = [], []
    for i in range(n):
        name = f"img/{i:05d}.{ext}"
        split = "train" if i % 10 < 8 else ("val" if i % 10 == 8 else "test")
        rows.append({"file_name": name, "text": _text(rng, int(rng.integers(8, 40))), "label": i % 10, "split": split})
        jobs_args.append((out / name, width, height, seed * 1_000_003 + i, 90))
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(_photo, jobs_args, chunksize=16))
    return write_manifest(out, rows)


def _pattern(args):
    """Class 0: horizontal stripes, class 1: vertical stripes; random period, phase and colours.

    Both classes draw their colours, periods and phases from the same distributions, so the mean
    colour of an image (and of every patch, on average) says nothing about its class: a linear
    read-out of a frozen random encoder sees almost no signal, while attention and MLP layers that
    are trained can learn the orientation.
    """
    path, size, label, seed = args
    from PIL import Image

    rng = np.random.default_rng(seed)
    period = rng.uniform(size / 8, size / 3)
    phase = rng.uniform(0, 2 * np.pi)
    coord = np.mgrid[0:size, 0:size][0 if label == 0 else 1].astype(np.float32)
    wave = (np.sin(coord / period * 2 * np.pi + phase) > 0).astype(np.float32)[..., None]
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    img = wave * a + (1 - wave) * b + rng.normal(0, 8, (size, size, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def pattern_dataset(out, n_train, n_val, n_test, size, seed, jobs):
    """Two classes told apart only by stripe orientation (see `_pattern`); PNG, no texts."""
    out = Path(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    rows, jobs_args = [], []
    for i in range(n_train + n_val + n_test):
        label = i % 2
        name = f"img/{i:05d}.png"
        split = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
        rows.append({"file_name": name, "text": "", "label": label, "split": split})
        jobs_args.append((out / name, size, label, seed * 1_000_003 + i))
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(_pattern, jobs_args, chunksize=16))
    return write_manifest(out, rows)


def synth_cache(out, template, n_train, n_val, n_test, classes, d_v, d_s, seed, rows_per_part=65536):
    """A feature cache with class structure: x = class centre + noise, x_s null on test rows.

    x_v = mu_v[y] + N(0, 1) with mu_v ~ N(0, 0.35^2 I) per class (d_v dims), and x_s likewise with
    its own centres, so that each modality alone is informative but noisy. The schema metadata is
    the template cache's (a cache marnet-extract wrote) with d_v, d_s, the class names and the
    dataset name replaced, so the readers' checks (DESIGN.md section 3) apply unchanged.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(Path(template).glob("part-*-of-*.parquet"))
    if not parts:
        raise ValueError(f"{template}: no part-*-of-*.parquet files to take the schema metadata from")
    meta = {k.decode(): v.decode() for k, v in (pq.read_schema(parts[0]).metadata or {}).items()}
    meta.update({
        "marnet.d_v": str(d_v),
        "marnet.d_s": str(d_s),
        "marnet.class_names": json.dumps([f"class_{k:03d}" for k in range(classes)]),
        "marnet.dataset": "synthetic",
    })
    rng = np.random.default_rng(seed)
    mu_v = rng.normal(0, 0.35, (classes, d_v)).astype(np.float32)
    mu_s = rng.normal(0, 0.35, (classes, d_s)).astype(np.float32)
    n = n_train + n_val + n_test
    labels = (np.arange(n) % classes).astype(np.int32)
    splits = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * n_test)
    x_v = mu_v[labels] + rng.standard_normal((n, d_v), dtype=np.float32)
    x_s = mu_s[labels] + rng.standard_normal((n, d_s), dtype=np.float32)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    total = (n + rows_per_part - 1) // rows_per_part
    for p in range(total):
        lo, hi = p * rows_per_part, min(n, (p + 1) * rows_per_part)
        has_text = splits[lo:hi] != "test"
        xs = pa.FixedSizeListArray.from_arrays(pa.array(x_s[lo:hi].ravel()), d_s)
        xs = pa.FixedSizeListArray.from_arrays(xs.values, d_s, mask=pa.array(~has_text))
        table = pa.table({
            "id": pa.array([f"s{i:06d}" for i in range(lo, hi)]),
            "split": pa.array(splits[lo:hi]).dictionary_encode(),
            "label": pa.array(labels[lo:hi], pa.int32()),
            "x_v": pa.FixedSizeListArray.from_arrays(pa.array(x_v[lo:hi].ravel()), d_v),
            "x_s": xs,
        }).replace_schema_metadata(meta)
        name = out / f"part-{p:05d}-of-{total:05d}.parquet"
        pq.write_table(table, str(name) + ".tmp", compression="zstd")
        os.replace(str(name) + ".tmp", name)
    return out
