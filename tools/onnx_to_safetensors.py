#!/usr/bin/env python3
"""Convert a dynamically int8-quantised ONNX vision tower to an HF-style f32 safetensors folder.

Source format (DESIGN.md section 6): `onnxruntime.quantization.quantize_dynamic` keeps the names
of the f32 initializers (embeddings, layer norms, biases) but replaces every Linear weight by three
anonymous initializers `onnx::MatMul_N_quantized` (int8/uint8, shape `[in, out]`),
`onnx::MatMul_N_scale` and `onnx::MatMul_N_zero_point` (shape `[out]` per channel, or scalars).
The `MatMulInteger` node that consumes the quantised weight is named after its module, e.g.
`/vision_model/encoder/layers.0/self_attn/q_proj/MatMul_quant`, which gives the HF parameter
`vision_model.encoder.layers.0.self_attn.q_proj.weight`. The HF (torch `nn.Linear`) weight is
`transpose((q - zero_point) * scale)`, shape `[out, in]`.

Usage:
    onnx_to_safetensors.py MODEL.onnx OUT_DIR [--preset clip-vit-b16]

`--preset clip-vit-b16` also writes `config.json` (HF `clip_vision_model`, openai/clip-vit-base-
patch16 vision tower) and the CLIP `preprocessor_config.json`, and checks that the converted
tensors are exactly the 200 parameters of `CLIPVisionModelWithProjection` with HF shapes.
Every file is written to a temporary name and renamed, so an interrupted run leaves no half file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from safetensors.numpy import save_file

QUANT_SUFFIX = "_quantized"
NODE_SUFFIX = "/MatMul_quant"

# openai/clip-vit-base-patch16 vision tower, HF CLIPVisionConfig keys.
CLIP_VIT_B16_CONFIG = {
    "architectures": ["CLIPVisionModelWithProjection"],
    "model_type": "clip_vision_model",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 16,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 512,
    "attention_dropout": 0.0,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "torch_dtype": "float32",
}

# HF CLIPImageProcessor of openai/clip-vit-base-patch16.
CLIP_PREPROCESSOR_CONFIG = {
    "image_processor_type": "CLIPImageProcessor",
    "do_resize": True,
    "size": {"shortest_edge": 224},
    "resample": 3,
    "do_center_crop": True,
    "crop_size": {"height": 224, "width": 224},
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "do_convert_rgb": True,
}


class ConversionError(Exception):
    """The ONNX graph does not have the structure described in the module docstring."""


def module_name(node_name: str) -> str:
    """`/vision_model/encoder/layers.0/self_attn/q_proj/MatMul_quant` -> `vision_model.encoder.layers.0.self_attn.q_proj`."""
    if not node_name.endswith(NODE_SUFFIX):
        raise ConversionError(f"MatMulInteger node {node_name!r}: expected a name ending in {NODE_SUFFIX!r}")
    path = node_name[: -len(NODE_SUFFIX)].strip("/")
    if not path:
        raise ConversionError(f"MatMulInteger node {node_name!r}: no module path before {NODE_SUFFIX!r}")
    return path.replace("/", ".")


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None) -> np.ndarray:
    """HF `[out, in]` f32 weight from an ONNX `[in, out]` int8 weight with per-output-channel scale.

    `scale` and `zero_point` have shape `[out]` or `[]`; the integer difference is exact in f32,
    the product is one f32 rounding, as in onnxruntime's dequantisation.
    """
    if q.ndim != 2:
        raise ConversionError(f"quantised weight has shape {q.shape}, expected [in, out]")
    zp = np.zeros((), np.int32) if zero_point is None else zero_point.astype(np.int32)
    for what, arr in (("scale", scale), ("zero_point", zp)):
        if arr.shape not in ((), (1,), (q.shape[1],)):
            raise ConversionError(f"{what} has shape {arr.shape}, expected [] or [{q.shape[1]}] (per output channel)")
    w = (q.astype(np.int32) - zp).astype(np.float32) * scale.astype(np.float32)
    return np.ascontiguousarray(w.T)


def convert(model: onnx.ModelProto) -> tuple[dict[str, np.ndarray], list[str]]:
    """All parameters under their HF names, plus the anonymous initializers that were not used."""
    inits = {t.name: t for t in model.graph.initializer}
    mmi_nodes = [n for n in model.graph.node if n.op_type == "MatMulInteger"]
    # Constant activation zero points (input 2) are graph constants, not parameters.
    act_zero_points = {n.input[2] for n in mmi_nodes if len(n.input) > 2 and n.input[2]}
    tensors: dict[str, np.ndarray] = {}
    for name, t in inits.items():
        if name.startswith("onnx::") or name in act_zero_points:
            continue
        arr = numpy_helper.to_array(t)
        if arr.dtype != np.float32:
            raise ConversionError(f"initializer {name!r}: dtype {arr.dtype}, expected float32")
        tensors[name] = np.ascontiguousarray(arr)
    used: set[str] = set()
    for node in mmi_nodes:
        if len(node.input) < 2:
            raise ConversionError(f"MatMulInteger node {node.name!r}: expected at least 2 inputs")
        qname = node.input[1]
        if not qname.endswith(QUANT_SUFFIX) or qname not in inits:
            raise ConversionError(f"MatMulInteger node {node.name!r}: weight input {qname!r} is not a '*{QUANT_SUFFIX}' initializer")
        base = qname[: -len(QUANT_SUFFIX)]
        sname = base + "_scale"
        if sname not in inits:
            raise ConversionError(f"MatMulInteger node {node.name!r}: scale initializer {sname!r} not found")
        zname = node.input[3] if len(node.input) > 3 and node.input[3] else None
        if zname is not None and zname not in inits:
            raise ConversionError(f"MatMulInteger node {node.name!r}: zero point {zname!r} is not an initializer")
        key = module_name(node.name) + ".weight"
        if key in tensors:
            raise ConversionError(f"parameter {key!r} produced twice (node {node.name!r})")
        zp = numpy_helper.to_array(inits[zname]) if zname else None
        tensors[key] = dequantize(numpy_helper.to_array(inits[qname]), numpy_helper.to_array(inits[sname]), zp)
        used.update(n for n in (qname, sname, zname) if n)
    unused = sorted(n for n in inits if n.startswith("onnx::") and n not in used)
    return tensors, unused


def clip_vision_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of HF `CLIPVisionModelWithProjection` for a `clip_vision_model` config."""
    h, inter, p = cfg["hidden_size"], cfg["intermediate_size"], cfg["patch_size"]
    n_pos = (cfg["image_size"] // p) ** 2 + 1
    v = "vision_model."
    shapes = {
        v + "embeddings.class_embedding": (h,),
        v + "embeddings.patch_embedding.weight": (h, cfg["num_channels"], p, p),
        v + "embeddings.position_embedding.weight": (n_pos, h),
        v + "pre_layrnorm.weight": (h,), v + "pre_layrnorm.bias": (h,),
        v + "post_layernorm.weight": (h,), v + "post_layernorm.bias": (h,),
        "visual_projection.weight": (cfg["projection_dim"], h),
    }
    for i in range(cfg["num_hidden_layers"]):
        l = f"{v}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[f"{l}self_attn.{proj}.weight"] = (h, h)
            shapes[f"{l}self_attn.{proj}.bias"] = (h,)
        for ln in ("layer_norm1", "layer_norm2"):
            shapes[f"{l}{ln}.weight"] = (h,)
            shapes[f"{l}{ln}.bias"] = (h,)
        shapes[f"{l}mlp.fc1.weight"] = (inter, h)
        shapes[f"{l}mlp.fc1.bias"] = (inter,)
        shapes[f"{l}mlp.fc2.weight"] = (h, inter)
        shapes[f"{l}mlp.fc2.bias"] = (h,)
    return shapes


def check_shapes(tensors: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]]) -> None:
    """Raise unless `tensors` has exactly the expected names, each with its expected shape."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(f"{k}: {tensors[k].shape} != {expected[k]}" for k in expected if k in tensors and tensors[k].shape != expected[k])
    if missing or extra or wrong:
        raise ConversionError(f"parameters do not match the config: missing {missing[:5]}, unexpected {extra[:5]}, wrong shapes {wrong[:5]}")


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("onnx_file", type=Path, help="int8 ONNX model (onnxruntime dynamic quantisation)")
    ap.add_argument("out_dir", type=Path, help="folder for model.safetensors (+ config files with --preset)")
    ap.add_argument("--preset", choices=["clip-vit-b16"], help="write config.json + preprocessor_config.json and check shapes")
    args = ap.parse_args(argv)
    try:
        model = onnx.load(str(args.onnx_file))
    except Exception as e:  # onnx raises several types for unreadable files
        print(f"error: cannot read ONNX file {args.onnx_file}: {e}", file=sys.stderr)
        return 1
    try:
        tensors, unused = convert(model)
        if unused:
            raise ConversionError(f"{len(unused)} anonymous initializers not consumed by a MatMulInteger, e.g. {unused[:3]}")
        if args.preset == "clip-vit-b16":
            check_shapes(tensors, clip_vision_shapes(CLIP_VIT_B16_CONFIG))
    except ConversionError as e:
        print(f"error: {args.onnx_file}: {e}", file=sys.stderr)
        return 1
    args.out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"format": "pt", "source": args.onnx_file.name, "source_sha256": sha256_file(args.onnx_file)}
    _write_atomic(args.out_dir / "model.safetensors", lambda p: save_file(dict(sorted(tensors.items())), str(p), metadata=meta))
    if args.preset == "clip-vit-b16":
        for name, obj in (("config.json", CLIP_VIT_B16_CONFIG), ("preprocessor_config.json", CLIP_PREPROCESSOR_CONFIG)):
            _write_atomic(args.out_dir / name, lambda p, o=obj: p.write_text(json.dumps(o, indent=2) + "\n"))
    n_params = sum(int(t.size) for t in tensors.values())
    print(f"wrote {len(tensors)} tensors ({n_params:,} parameters, f32) to {args.out_dir / 'model.safetensors'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
