"""Compares what `scripts/test-slurm.sh` made on the cluster with a single-process run
(sharded and resumed work must give the same cache and sweep records as one process).

  python scripts/compare_runs.py caches A B   feature caches: same part files, and in every part
                                              the same rows with bit-identical x_v and x_s
  python scripts/compare_runs.py sweeps A B   sweep folders: the same trials/<hash>.json records,
                                              equal in everything but the wall-clock seconds

Prints one line per check and exits 1 on the first difference. Needs pyarrow (in .venv).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def fail(msg: str) -> None:
    print(f"FAIL: {msg}")
    sys.exit(1)


def float_bits(column) -> list[bytes | None]:
    """Raw little-endian float32 bytes of each row of a fixed_size_list<float> column (None if null)."""
    out = []
    for chunk in column.chunks:
        width = chunk.type.list_size
        # .values holds every slot, those under null rows too; slice to this chunk's rows.
        values = chunk.values.slice(chunk.offset * width, len(chunk) * width)
        bits = values.to_numpy(zero_copy_only=False).view("<u4")
        for i, ok in enumerate(chunk.is_valid().to_pylist()):
            out.append(bits[i * width : (i + 1) * width].tobytes() if ok else None)
    return out


def compare_caches(a: Path, b: Path) -> None:
    import pyarrow.parquet as pq

    parts_a = sorted(p.name for p in a.glob("part-*.parquet"))
    parts_b = sorted(p.name for p in b.glob("part-*.parquet"))
    if parts_a != parts_b or not parts_a:
        fail(f"part files differ: {parts_a} vs {parts_b}")
    same_bytes = 0
    rows = 0
    for name in parts_a:
        ta, tb = pq.read_table(a / name), pq.read_table(b / name)
        for col in ("id", "split", "label"):
            if ta.column(col).to_pylist() != tb.column(col).to_pylist():
                fail(f"{name}: column {col} differs")
        for col in ("x_v", "x_s"):
            if float_bits(ta.column(col)) != float_bits(tb.column(col)):
                fail(f"{name}: {col} differs in at least one bit")
        rows += ta.num_rows
        digest = [hashlib.sha256((d / name).read_bytes()).hexdigest() for d in (a, b)]
        same_bytes += digest[0] == digest[1]
    print(
        f"OK caches: {len(parts_a)} parts, {rows} rows: id, split, label equal, x_v and x_s bit-identical "
        f"({same_bytes} of {len(parts_a)} part files byte-identical)"
    )


def records(folder: Path) -> dict[str, dict]:
    out = {}
    for path in sorted((folder / "trials").glob("*.json")):
        rec = json.loads(path.read_text())
        rec.pop("seconds", None)
        out[path.stem] = rec
    return out


def compare_sweeps(a: Path, b: Path) -> None:
    ra, rb = records(a), records(b)
    if not ra or sorted(ra) != sorted(rb):
        fail(f"record sets differ: {sorted(ra)} vs {sorted(rb)}")
    for key in ra:
        if ra[key] != rb[key]:
            fail(f"record {key} differs: {ra[key]} vs {rb[key]}")
    print(f"OK sweeps: {len(ra)} records equal (metrics, overrides, seeds, mode; seconds ignored)")


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in ("caches", "sweeps"):
        print(__doc__)
        sys.exit(2)
    a, b = Path(sys.argv[2]), Path(sys.argv[3])
    (compare_caches if sys.argv[1] == "caches" else compare_sweeps)(a, b)


if __name__ == "__main__":
    main()
