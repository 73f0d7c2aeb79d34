#!/usr/bin/env python3
"""Builds the fixtures of the `hf:` and `webdataset:` dataset kinds in
data/tests/fixtures/sources/ with the libraries researchers use. Run by hand; the Rust tests
only read the files:

    python3 -m venv .venv-fixtures
    .venv-fixtures/bin/pip install -r tools/requirements-datasets.txt
    .venv-fixtures/bin/python tools/make_dataset_fixtures.py

The twelve images (3 classes apple/bread/curry, 6 train, 3 val, 3 test; PNG, JPEG, greyscale,
RGBA, CMYK) are the bytes of extract/tests/fixtures/dataset/images, stored unchanged in every
form, so all forms must give bit-identical x_v:

  files/manifest.csv + files/images/    the plain-file form (manifest kind)
  hf/data/{train,validation,test}-00000-of-00001.parquet
        `datasets.Dataset` with features Image, ClassLabel(names=[apple, bread, curry]) and a
        string `text`, written by `Dataset.to_parquet` under the Hub's file names
  wds/{train,val,test}-00000N.tar
        `webdataset.ShardWriter` (maxcount=4: train spans two shards); members KEY.png|jpg,
        KEY.cls (class index), KEY.txt, KEY.json ({"food": name, "caption": text})
  img2dataset/00000.parquet
        img2dataset's Parquet output shape: key, jpg (bytes), txt, url, width, height, status,
        error_message, plus `label` kept by its save_additional_columns option
  bad/bad-000000.tar   ShardWriter: good, a corrupt JPEG, a key with only txt/cls, good
  bad/cut-000000.tar   a good 4-sample shard cut inside the data of its third image member
  bad/empty_bytes.parquet  datasets Image column whose second row has empty bytes
  bad/dup-000000.tar   TarWriter: key k1, k2, then k1 again
"""
import io
import json
import os
import tarfile

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import webdataset as wds
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "extract", "tests", "fixtures", "dataset", "images")
OUT = os.path.join(HERE, "..", "data", "tests", "fixtures", "sources")
CLASSES = ["apple", "bread", "curry"]
# (file, class, split, text); "" = no text
ROWS = [
    ("a0.png", "apple", "train", "red apple on a plate"),
    ("b0.jpg", "bread", "train", "sliced white bread"),
    ("c0.png", "curry", "train", "chicken curry with rice"),
    ("a1.jpg", "apple", "train", "green apple"),
    ("b1.png", "bread", "train", ""),
    ("c1.png", "curry", "train", "lentil curry"),
    ("a2.png", "apple", "val", "baked apple pie"),
    ("b2_grey.png", "bread", "val", "rye bread, dark crust"),
    ("c2_rgba.png", "curry", "val", "fish curry"),
    ("a3.png", "apple", "test", "apple slices"),
    ("b3_cmyk.jpg", "bread", "test", "bread rolls"),
    ("c3.jpg", "curry", "test", "vegetable curry"),
]
HF_SPLIT = {"train": "train", "val": "validation", "test": "test"}


def image_bytes(name):
    with open(os.path.join(SRC, name), "rb") as f:
        return f.read()


def ext(name):
    return "jpg" if name.endswith(".jpg") else "png"


def write_files():
    os.makedirs(os.path.join(OUT, "files", "images"), exist_ok=True)
    with open(os.path.join(OUT, "files", "manifest.csv"), "w", newline="") as f:
        f.write("file_name,text,label,split\n")
        for name, cls, split, text in ROWS:
            with open(os.path.join(OUT, "files", "images", name), "wb") as g:
                g.write(image_bytes(name))
            quoted = f'"{text}"' if "," in text else text
            f.write(f"images/{name},{quoted},{cls},{split}\n")


def hf_features():
    return datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=CLASSES),
            "text": datasets.Value("string"),
        }
    )


def write_hf():
    os.makedirs(os.path.join(OUT, "hf", "data"), exist_ok=True)
    for split, hf_name in HF_SPLIT.items():
        rows = [r for r in ROWS if r[2] == split]
        ds = datasets.Dataset.from_dict(
            {
                "image": [{"bytes": image_bytes(r[0]), "path": r[0]} for r in rows],
                "label": [CLASSES.index(r[1]) for r in rows],
                "text": [r[3] or None for r in rows],
            },
            features=hf_features(),
        )
        ds.to_parquet(os.path.join(OUT, "hf", "data", f"{hf_name}-00000-of-00001.parquet"))


def wds_sample(i, row):
    name, cls, _split, text = row
    sample = {"__key__": f"{i:06d}", ext(name): image_bytes(name), "cls": CLASSES.index(cls)}
    sample["json"] = {"food": cls, "caption": text}
    if text:
        sample["txt"] = text
    return sample


def write_wds():
    os.makedirs(os.path.join(OUT, "wds"), exist_ok=True)
    for split in ["train", "val", "test"]:
        pattern = os.path.join(OUT, "wds", f"{split}-%06d.tar")
        with wds.ShardWriter(pattern, maxcount=4, verbose=0) as sink:
            for i, row in enumerate(ROWS):
                if row[2] == split:
                    sink.write(wds_sample(i, row))


def write_img2dataset():
    os.makedirs(os.path.join(OUT, "img2dataset"), exist_ok=True)
    sizes = [Image.open(io.BytesIO(image_bytes(r[0]))).size for r in ROWS]
    table = pa.table(
        {
            "key": [f"{i:09d}" for i in range(len(ROWS))],
            "jpg": pa.array([image_bytes(r[0]) for r in ROWS], pa.binary()),
            "txt": [r[3] for r in ROWS],
            "url": [f"https://example.org/{r[0]}" for r in ROWS],
            "width": [w for w, _ in sizes],
            "height": [h for _, h in sizes],
            "status": ["success"] * len(ROWS),
            "error_message": pa.array([None] * len(ROWS), pa.string()),
            "label": [r[1] for r in ROWS],
        }
    )
    pq.write_table(table, os.path.join(OUT, "img2dataset", "00000.parquet"))


def write_bad():
    bad = os.path.join(OUT, "bad")
    os.makedirs(bad, exist_ok=True)
    with wds.ShardWriter(os.path.join(bad, "bad-%06d.tar"), maxcount=100, verbose=0) as sink:
        sink.write(wds_sample(0, ROWS[0]))
        sink.write({"__key__": "000001", "jpg": image_bytes("../images/corrupt.jpg"), "cls": 1, "txt": "corrupt"})
        sink.write({"__key__": "000002", "cls": 2, "txt": "a caption without its image"})
        sink.write(wds_sample(3, ROWS[3]))
    whole = os.path.join(bad, "whole.tar")
    with wds.TarWriter(whole) as sink:
        for i in range(4):
            sink.write(wds_sample(i, ROWS[i]))
    with tarfile.open(whole) as t:
        third_image = [m for m in t.getmembers() if m.name.startswith("000002.")][0]
        if not third_image.name.endswith(("png", "jpg")):
            third_image = [m for m in t.getmembers() if m.name in ("000002.png", "000002.jpg")][0]
        cut = third_image.offset_data + third_image.size // 2
    with open(whole, "rb") as f:
        data = f.read()[:cut]
    os.remove(whole)
    with open(os.path.join(bad, "cut-000000.tar"), "wb") as f:
        f.write(data)
    ds = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": image_bytes(ROWS[i][0]), "path": None} for i in range(3)],
            "label": [0, 1, 2],
            "text": ["first", "empty image", "third"],
        },
        features=hf_features(),
    )
    ds.to_parquet(os.path.join(bad, "empty_bytes.parquet"))
    t = pq.read_table(os.path.join(bad, "empty_bytes.parquet"))
    images = t.column("image").to_pylist()
    images[1] = {"bytes": b"", "path": None}
    t = t.set_column(0, t.schema.field("image"), pa.array(images, t.schema.field("image").type))
    pq.write_table(t, os.path.join(bad, "empty_bytes.parquet"))
    with wds.TarWriter(os.path.join(bad, "dup-000000.tar")) as sink:
        for key, row in [("k1", ROWS[0]), ("k2", ROWS[1]), ("k1", ROWS[2])]:
            sink.write({"__key__": key, ext(row[0]): image_bytes(row[0]), "cls": CLASSES.index(row[1])})


if __name__ == "__main__":
    write_files()
    write_hf()
    write_wds()
    write_img2dataset()
    write_bad()
    print("wrote", OUT)
