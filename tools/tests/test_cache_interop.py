"""A feature cache folder opens as one table in pyarrow, pandas, polars, DuckDB and Hugging Face
`datasets` (docs/cache-format.md; DESIGN.md section 3: "pyarrow, polars and HF datasets must read the files
as they are").

The cache is written by the project's own writer: `marnet-extract run` (through `cargo run`, or
the binary named by $MARNET_EXTRACT) on the fixture dataset `extract/tests/fixtures/dataset/
with_bad.csv` with the tiny CLIP and BERT checkpoints, in parts of 5 rows and with
`--on-bad-image skip`, so the folder holds every sidecar beside the parts: `.manifest.json`,
`.extract_plan.json`, `.bad_inputs.jsonl` and per-part `.bad_inputs.part-NNNNN.jsonl` lists.

Expected values come from the fixture, not from the writer: with_bad.csv lists 17 images, of
which 4 are unusable (corrupt.jpg, empty.jpg, missing.jpg, truncated.jpg), so 13 rows; D_v = 32
(tiny CLIP `hidden_size`: the default `pooler_output`, before the projection); `x_s` is null for
the test rows and for rows with an empty text.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

# Never reach the Hub from `datasets` (read before it is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "extract" / "tests" / "fixtures"
MANIFEST = FIXTURES / "dataset" / "with_bad.csv"
BAD = {"images/corrupt.jpg", "images/empty.jpg", "images/missing.jpg", "images/truncated.jpg"}
D_V = 32


def expected_rows() -> dict[str, bool]:
    """Sample id -> whether its x_s must be null, from the fixture manifest."""
    with MANIFEST.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["file_name"]: (r["split"] == "test" or r["text"] == "") for r in rows if r["file_name"] not in BAD}


EXPECTED = expected_rows()
TEST_IDS = {"images/a3.png", "images/b3_cmyk.jpg", "images/c3.jpg"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("interop") / "cache"
    binary = os.environ.get("MARNET_EXTRACT")
    command = [binary] if binary else ["cargo", "run", "--quiet", "-p", "marnet-extract", "--"]
    command += [
        "run",
        "--dataset", f"manifest:{MANIFEST}",
        "--image-model", str(FIXTURES / "tiny" / "clip"),
        "--text-model", str(FIXTURES / "tiny" / "bert"),
        "--out", str(out),
        "--rows-per-part", "5",
        "--on-bad-image", "skip",
        "--quiet",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr}"
    return out


def test_the_folder_holds_parts_and_hidden_sidecars(cache: Path) -> None:
    names = sorted(p.name for p in cache.iterdir())
    # 17 samples in parts of 5 rows: 4 parts; every part but the last skipped one bad image.
    parts = [f"part-{i:05d}-of-00004.parquet" for i in range(4)]
    sidecars = [".bad_inputs.jsonl", ".extract_plan.json", ".manifest.json"]
    per_part = [f".bad_inputs.part-{i:05d}.jsonl" for i in range(4)]
    assert sorted(parts + sidecars + per_part) == names
    assert len((cache / ".bad_inputs.jsonl").read_text().splitlines()) == len(BAD)


def test_the_schema_1_names_would_break_pyarrow(cache: Path, tmp_path: Path) -> None:
    """Why the sidecars are hidden: a plain `manifest.json` beside the parts fails read_table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    legacy = tmp_path / "legacy"
    shutil.copytree(cache, legacy)
    (legacy / ".manifest.json").rename(legacy / "manifest.json")
    with pytest.raises(pa.ArrowInvalid, match="manifest.json"):
        pq.read_table(legacy)


def check(ids: list[str], x_v: np.ndarray, x_s_null: list[bool], splits: list[str]) -> None:
    """The table read by one library matches the fixture."""
    assert len(ids) == len(EXPECTED) == 13
    assert sorted(ids) == sorted(EXPECTED)
    assert x_v.shape == (13, D_V)
    assert x_v.dtype == np.float32
    assert np.isfinite(x_v).all() and (np.abs(x_v).sum(axis=1) > 0).all()
    assert dict(zip(ids, x_s_null)) == EXPECTED
    assert {i for i, s in zip(ids, splits) if s == "test"} == TEST_IDS
    assert all(null for i, null in zip(ids, x_s_null) if i in TEST_IDS)


def test_pyarrow_read_table_of_the_folder(cache: Path) -> None:
    import pyarrow.parquet as pq

    t = pq.read_table(cache)
    x_v = t.column("x_v").combine_chunks().flatten().to_numpy().reshape(-1, D_V)
    check(t.column("id").to_pylist(), x_v, t.column("x_s").is_null().to_pylist(), t.column("split").to_pylist())


def test_pyarrow_dataset_of_the_folder(cache: Path) -> None:
    import pyarrow.dataset as ds

    t = ds.dataset(cache, format="parquet").to_table()
    x_v = t.column("x_v").combine_chunks().flatten().to_numpy().reshape(-1, D_V)
    check(t.column("id").to_pylist(), x_v, t.column("x_s").is_null().to_pylist(), t.column("split").to_pylist())


def test_pandas_read_parquet_of_the_folder(cache: Path) -> None:
    import pandas as pd

    df = pd.read_parquet(cache)
    check(list(df["id"]), np.stack(df["x_v"].to_list()), list(df["x_s"].isna()), [str(s) for s in df["split"]])


def test_polars_scan_parquet_of_the_folder(cache: Path) -> None:
    import polars as pl

    # polars opens a folder only if every file in it is Parquet, unless told which files are
    # hidden; `pl.read_parquet(f"{cache}/*.parquet")` works too.
    df = pl.scan_parquet(cache, hidden_file_prefix=".").collect()
    check(df["id"].to_list(), df["x_v"].to_numpy(), df["x_s"].is_null().to_list(), df["split"].cast(pl.String).to_list())


def test_duckdb_read_parquet_of_the_folder(cache: Path) -> None:
    import duckdb

    rows = duckdb.sql(f"SELECT id, split, x_v, x_s IS NULL FROM read_parquet('{cache}')").fetchall()
    ids, splits, x_v, nulls = zip(*rows)
    check(list(ids), np.asarray(x_v, dtype=np.float32), list(nulls), list(splits))


def test_hugging_face_datasets_load_dataset_data_dir(cache: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    d = load_dataset("parquet", data_dir=str(cache), cache_dir=str(tmp_path / "hf"))["train"]
    x_v = np.asarray(d.with_format("numpy")["x_v"])
    check(list(d["id"]), x_v, [v is None for v in d["x_s"]], list(d["split"]))
