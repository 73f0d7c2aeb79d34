#!/usr/bin/env python3
"""Subcommands of scripts/device-check.sh (the offline GPU check; docs/gpu-device-kit.md).

  unpack KIT_BIN DEST            decompress the kit's binaries (xz, Python's lzma), check sha256
  cuda-env                       CUDA libraries in this Python's packages and the driver's libcuda:
                                 prints `LD_LIBRARY_PATH=...` then one `version: ...` line each
  tiny-dataset FIXTURES OUT      the tiny parity dataset (PNG fixture images + golden texts)
  photos OUT --n --width --height --ext --seed --jobs      synthetic photos with texts
  patterns OUT --n-train --n-val --n-test --size --seed --jobs   stripe-orientation classes
  synth-cache OUT --template CACHE --n-train --n-val --n-test --classes --d-v --d-s --seed
  make-models OUT --size full|tiny --seed --fixtures DIR   random HF folders (transformers)
  reference MODELS MANIFEST OUT.npz --device --batch       transformers f32 x_v, x_s
  hf-speed MODELS MANIFEST --device --batch --workers --iters   transformers bf16 SDPA images/s
  compare-golden CACHE ROWS GOLDEN_DIR NAME KEY [--min-cosine C] [--max-abs D]
  compare-reference CACHE REF.npz --min-cosine C
  finetune-learns TRAINABLE_RUN FROZEN_RUN --min-gap POINTS
  extract-figures LOG            images/s, model-only images/s and the split from a run's summary
  record RESULTS CHECK STATUS DETAIL [FIGURES_JSON]   append one result (pass, FAIL or SKIP)
  table RESULTS                  the Markdown table; exit 1 if any check failed

Exit codes: 0 ok / passed, 1 a check failed, 2 unusable input.
"""

import argparse
import hashlib
import json
import lzma
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import device_check_compare as compare  # noqa: E402  (numpy only at import)


def unpack(kit_bin, dest):
    """Decompresses every `NAME.xz` of `kit_bin` into `dest/NAME` (executable), checking the
    sha256 that `kit_bin/SHA256SUMS` lists for the decompressed file."""
    kit_bin, dest = Path(kit_bin), Path(dest)
    sums = {}
    for line in (kit_bin / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.strip()] = digest
    dest.mkdir(parents=True, exist_ok=True)
    for xz in sorted(kit_bin.glob("*.xz")):
        out = dest / xz.stem
        h = hashlib.sha256()
        with lzma.open(xz) as src, open(str(out) + ".tmp", "wb") as dst:
            while chunk := src.read(1 << 22):
                h.update(chunk)
                dst.write(chunk)
        if sums.get(xz.stem) != h.hexdigest():
            raise compare.InputError(f"{xz}: sha256 {h.hexdigest()} of the decompressed file, SHA256SUMS says {sums.get(xz.stem)}")
        os.chmod(str(out) + ".tmp", 0o755)
        os.replace(str(out) + ".tmp", out)
        print(f"unpacked {out} ({out.stat().st_size / 2**20:.1f} MiB)")


def _libcuda():
    """Path of the driver's libcuda.so.1 (ldconfig's cache, then the usual driver folders) or None."""
    try:
        for line in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout.splitlines():
            if "libcuda.so.1 " in line and "=>" in line:
                return line.split("=>")[1].strip()
    except OSError:
        pass
    for d in ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib"):
        if (Path(d) / "libcuda.so.1").exists():
            return str(Path(d) / "libcuda.so.1")
    return None


def cuda_env():
    """Prints `LD_LIBRARY_PATH=<dirs>` (every nvidia/*/lib folder of this Python's packages, plus
    libcuda's folder) and `version:` lines (Python, torch, transformers, the nvidia-* wheels, libcuda)."""
    import importlib.metadata as md
    import site

    roots = [Path(p) for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path if p]
    dirs = []
    for root in roots:
        nv = root / "nvidia"
        if nv.is_dir():
            for lib in sorted(nv.glob("**/lib")):
                if lib.is_dir() and any(lib.glob("lib*.so*")) and str(lib) not in dirs:
                    dirs.append(str(lib))
    cuda = _libcuda()
    if cuda:
        dirs.append(str(Path(cuda).parent))
    print("LD_LIBRARY_PATH=" + ":".join(dirs))
    print(f"version: python {sys.version.split()[0]} ({sys.executable})")
    for dist in sorted(md.distributions(), key=lambda d: d.metadata["Name"].lower()):
        name = dist.metadata["Name"]
        if name.lower() in ("torch", "transformers", "tokenizers") or name.lower().startswith(("nvidia-cu", "nvidia-curand")):
            print(f"version: {name} {dist.version}")
    real = os.path.realpath(cuda) if cuda else None
    print(f"version: libcuda {real or 'not found (no NVIDIA driver on this machine)'}")


SUMMARY = {
    "images": r"train (\d+), val (\d+), test (\d+)",
    "seconds": r"time: ([0-9.]+) s",
    "images_per_s": r"([0-9.]+) images/s",
    "decode_s": r"decode ([0-9.]+) s",
    "image_forward_s": r"image forward ([0-9.]+) s",
    "text_forward_s": r"text forward ([0-9.]+) s",
    "waited_for_decoding_s": r"waited ([0-9.]+) s for decoding",
}


def extract_figures(log_text):
    """Figures of `marnet-extract run`'s summary (extract/src/pipeline/summary.rs): end-to-end
    images/s, model-only images/s (images over image-forward seconds) and the decode/model split."""
    import re

    found = {k: re.search(p, log_text.split("extracted to")[-1]) for k, p in SUMMARY.items()}
    missing = [k for k, m in found.items() if m is None]
    if missing:
        raise compare.InputError(f"no {', '.join(missing)} in the extraction summary")
    images = sum(int(x) for x in found["images"].groups())
    figs = {k: float(m.group(1)) for k, m in found.items() if k != "images"}
    figs["images"] = images
    if figs["image_forward_s"] > 0:
        figs["model_images_per_s"] = round(images / figs["image_forward_s"], 1)
    return figs


def _record(results, check, status, detail, figures):
    if status not in ("pass", "FAIL", "SKIP"):
        raise compare.InputError(f"status {status!r}: expected pass, FAIL or SKIP")
    figs = json.loads(figures) if figures else {}
    with open(results, "a") as f:
        f.write(json.dumps({"check": check, "status": status, "detail": detail, "figures": figs}) + "\n")
    print(f"device-check: {check}: {status}" + ("" if status == "pass" else f" ({detail})"))


def _figure(key, value):
    if isinstance(value, float):
        value = f"{value:.4g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{key.replace('_', ' ')} {value}"


def table(results):
    """(any_failed, Markdown): one row per check with its figures, then the pass/fail/skip count."""
    rows = [json.loads(line) for line in Path(results).read_text().splitlines() if line.strip()]
    if not rows:
        raise compare.InputError(f"{results}: no results")
    out = ["| check | result | figures | detail |", "|---|---|---|---|"]
    for r in rows:
        figs = "; ".join(_figure(k, v) for k, v in r["figures"].items() if v is not None)
        cells = [r["check"], r["status"], figs, r["detail"]]
        out.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    count = {s: sum(r["status"] == s for r in rows) for s in ("pass", "FAIL", "SKIP")}
    out += ["", f"{count['pass']} passed, {count['FAIL']} failed, {count['SKIP']} skipped"]
    return count["FAIL"] > 0, "\n".join(out)


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, *positional):
        parser = sub.add_parser(name)
        for n in positional:
            parser.add_argument(n)
        return parser

    add("cuda-env")
    add("unpack", "kit_bin", "dest")
    add("tiny-dataset", "fixtures", "out")
    s = add("photos", "out")
    for k in ("n", "width", "height", "seed", "jobs"):
        s.add_argument(f"--{k}", type=int, required=True)
    s.add_argument("--ext", choices=["jpg", "png"], required=True)
    s = add("patterns", "out")
    for k in ("n-train", "n-val", "n-test", "size", "seed", "jobs"):
        s.add_argument(f"--{k}", type=int, required=True)
    s = add("synth-cache", "out")
    s.add_argument("--template", required=True)
    for k in ("n-train", "n-val", "n-test", "classes", "d-v", "d-s", "seed"):
        s.add_argument(f"--{k}", type=int, required=True)
    s = add("make-models", "out")
    s.add_argument("--size", choices=["full", "tiny"], required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--fixtures", required=True)
    s = add("reference", "models", "manifest", "out")
    s.add_argument("--device", required=True)
    s.add_argument("--batch", type=int, default=64)
    s = add("hf-speed", "models", "manifest")
    s.add_argument("--device", required=True)
    for k in ("batch", "workers", "iters"):
        s.add_argument(f"--{k}", type=int, required=True)
    s = add("compare-golden", "cache", "rows", "golden_dir", "name", "key")
    s.add_argument("--min-cosine", type=float)
    s.add_argument("--max-abs", type=float)
    add("compare-reference", "cache", "reference").add_argument("--min-cosine", type=float, required=True)
    add("finetune-learns", "trainable", "frozen").add_argument("--min-gap", type=float, required=True)
    add("extract-figures", "log")
    add("record", "results", "check", "status", "detail").add_argument("figures", nargs="?")
    add("table", "results")
    return p


def run(a):
    """Runs one parsed subcommand; returns the exit code."""
    if a.cmd == "cuda-env":
        cuda_env()
    elif a.cmd == "unpack":
        unpack(a.kit_bin, a.dest)
    elif a.cmd in ("tiny-dataset", "photos", "patterns", "synth-cache"):
        import device_check_data as data

        if a.cmd == "tiny-dataset":
            print(data.tiny_dataset(a.fixtures, a.out))
        elif a.cmd == "photos":
            print(data.photo_dataset(a.out, a.n, a.width, a.height, a.ext, a.seed, a.jobs))
        elif a.cmd == "patterns":
            print(data.pattern_dataset(a.out, a.n_train, a.n_val, a.n_test, a.size, a.seed, a.jobs))
        else:
            print(data.synth_cache(a.out, a.template, a.n_train, a.n_val, a.n_test, a.classes, a.d_v, a.d_s, a.seed))
    elif a.cmd in ("make-models", "reference", "hf-speed"):
        import device_check_hf as hf

        if a.cmd == "make-models":
            print(hf.make_models(a.out, a.size, a.seed, a.fixtures))
        elif a.cmd == "reference":
            print(hf.reference(a.models, a.manifest, a.out, a.device, a.batch))
        else:
            print(json.dumps(hf.speed(a.models, a.manifest, a.device, a.batch, a.workers, a.iters)))
    elif a.cmd in ("compare-golden", "compare-reference", "finetune-learns"):
        if a.cmd == "compare-golden":
            ok, msg = compare.compare_golden(a.cache, a.rows, a.golden_dir, a.name, a.key, a.min_cosine, a.max_abs)
        elif a.cmd == "compare-reference":
            ok, msg = compare.compare_reference(a.cache, a.reference, a.min_cosine)
        else:
            ok, msg = compare.finetune_learns(a.trainable, a.frozen, a.min_gap)
        print(msg)
        return 0 if ok else 1
    elif a.cmd == "extract-figures":
        print(json.dumps(extract_figures(Path(a.log).read_text())))
    elif a.cmd == "record":
        _record(a.results, a.check, a.status, a.detail, a.figures)
    else:
        failed, text = table(a.results)
        print(text)
        return 1 if failed else 0
    return 0


def main(argv=None):
    a = _parser().parse_args(argv)
    try:
        return run(a)
    except (compare.InputError, OSError, ValueError, KeyError) as e:
        print(f"device_check {a.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
