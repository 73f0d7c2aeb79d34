"""Tests of tools/onnx_to_safetensors.py on small ONNX graphs built here with onnx.helper.

The graphs mimic the structure of `clip_encoder.int8.onnx` (DESIGN.md section 6): a named f32
initializer, and a `MatMulInteger` node named `/vision_model/encoder/layers.0/self_attn/q_proj/MatMul_quant`
whose weight is the anonymous `onnx::MatMul_7_quantized` with per-channel `_scale`/`_zero_point`.
Expected values are computed by hand in the comments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import onnx_to_safetensors as conv  # noqa: E402

# Quantised weight [in=2, out=3], int8.
Q = np.array([[1, -2, 3], [4, 5, -6]], dtype=np.int8)
SCALE = np.array([0.5, 0.25, 2.0], dtype=np.float32)  # one per output channel
ZERO = np.array([0, 1, -1], dtype=np.int8)
# HF weight [out=3, in=2] = transpose((q - zp) * scale):
#   channel 0: (1-0)*0.5 = 0.5,   (4-0)*0.5 = 2.0
#   channel 1: (-2-1)*0.25 = -0.75, (5-1)*0.25 = 1.0
#   channel 2: (3+1)*2 = 8.0,     (-6+1)*2 = -10.0
EXPECTED = np.array([[0.5, 2.0], [-0.75, 1.0], [8.0, -10.0]], dtype=np.float32)
BIAS = np.array([0.1, 0.2, 0.3], dtype=np.float32)


def tiny_model(node_name: str = "/vision_model/encoder/layers.0/self_attn/q_proj/MatMul_quant", extra_init: bool = False) -> onnx.ModelProto:
    """x (uint8 [1,2]) -> MatMulInteger(x, W_q, 0, W_zp) -> Cast -> Mul(scale) -> Add(bias)."""
    base = "onnx::MatMul_7"
    inits = [
        numpy_helper.from_array(Q, base + "_quantized"),
        numpy_helper.from_array(SCALE, base + "_scale"),
        numpy_helper.from_array(ZERO, base + "_zero_point"),
        numpy_helper.from_array(np.array(0, dtype=np.uint8), "x_zero_point"),
        numpy_helper.from_array(BIAS, "vision_model.encoder.layers.0.self_attn.q_proj.bias"),
    ]
    if extra_init:
        inits.append(numpy_helper.from_array(np.ones(3, np.float32), "onnx::Mul_99"))
    nodes = [
        helper.make_node("MatMulInteger", ["x", base + "_quantized", "x_zero_point", base + "_zero_point"], ["mm"], name=node_name),
        helper.make_node("Cast", ["mm"], ["mmf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["mmf", base + "_scale"], ["scaled"], name=node_name + "_scales_mul"),
        helper.make_node("Add", ["scaled", "vision_model.encoder.layers.0.self_attn.q_proj.bias"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    return model


def test_module_name_from_node_name():
    assert conv.module_name("/vision_model/encoder/layers.11/mlp/fc2/MatMul_quant") == "vision_model.encoder.layers.11.mlp.fc2"
    assert conv.module_name("/visual_projection/MatMul_quant") == "visual_projection"
    with pytest.raises(conv.ConversionError, match="MatMul_quant"):
        conv.module_name("/visual_projection/Gemm")


def test_dequantize_transposes_and_scales_per_channel():
    got = conv.dequantize(Q, SCALE, ZERO)
    assert got.shape == (3, 2) and got.dtype == np.float32
    np.testing.assert_array_equal(got, EXPECTED)
    assert got.flags["C_CONTIGUOUS"]


def test_dequantize_rejects_wrong_scale_shape():
    with pytest.raises(conv.ConversionError, match="scale has shape"):
        conv.dequantize(Q, np.ones(2, np.float32), ZERO)


def test_convert_names_and_values():
    tensors, unused = conv.convert(tiny_model())
    assert unused == []
    assert sorted(tensors) == [
        "vision_model.encoder.layers.0.self_attn.q_proj.bias",
        "vision_model.encoder.layers.0.self_attn.q_proj.weight",
    ]
    np.testing.assert_array_equal(tensors["vision_model.encoder.layers.0.self_attn.q_proj.weight"], EXPECTED)
    np.testing.assert_array_equal(tensors["vision_model.encoder.layers.0.self_attn.q_proj.bias"], BIAS)


def test_dequantized_weight_reproduces_the_integer_graph():
    # The f32 Linear y = x W^T + b must equal the int graph: x = [3, 1] gives
    #   channel 0: (3*1 + 1*4) * 0.5 + 0.1 = 3.6
    #   channel 1: (3*(-3) + 1*4) * 0.25 + 0.2 = -1.05
    #   channel 2: (3*4 + 1*(-5)) * 2 + 0.3 = 14.3
    tensors, _ = conv.convert(tiny_model())
    x = np.array([[3.0, 1.0]], np.float32)
    y = x @ tensors["vision_model.encoder.layers.0.self_attn.q_proj.weight"].T + BIAS
    np.testing.assert_allclose(y, [[3.6, -1.05, 14.3]], rtol=1e-6)


def test_unused_anonymous_initializers_are_reported():
    _, unused = conv.convert(tiny_model(extra_init=True))
    assert unused == ["onnx::Mul_99"]


def test_main_writes_safetensors(tmp_path: Path):
    src = tmp_path / "tiny.onnx"
    onnx.save(tiny_model(), str(src))
    assert conv.main([str(src), str(tmp_path / "out")]) == 0
    loaded = load_file(str(tmp_path / "out" / "model.safetensors"))
    np.testing.assert_array_equal(loaded["vision_model.encoder.layers.0.self_attn.q_proj.weight"], EXPECTED)
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_main_preset_rejects_incomplete_graph(tmp_path: Path, capsys):
    src = tmp_path / "tiny.onnx"
    onnx.save(tiny_model(), str(src))
    assert conv.main([str(src), str(tmp_path / "out"), "--preset", "clip-vit-b16"]) == 1
    assert "missing" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_badly_named_node_is_an_error(tmp_path: Path, capsys):
    src = tmp_path / "bad.onnx"
    onnx.save(tiny_model(node_name="matmul_0"), str(src))
    assert conv.main([str(src), str(tmp_path / "out")]) == 1
    assert "matmul_0" in capsys.readouterr().err


def test_clip_preset_shapes_count():
    # 12 layers x 16 tensors (4 proj x (w, b), 2 layer norms x (w, b), fc1/fc2 x (w, b))
    # + class/patch/position embeddings + pre/post layer norm (4) + visual_projection = 192 + 3 + 4 + 1 = 200
    shapes = conv.clip_vision_shapes(conv.CLIP_VIT_B16_CONFIG)
    assert len(shapes) == 200
    assert shapes["vision_model.embeddings.position_embedding.weight"] == (197, 768)  # (224/16)^2 + 1
    assert shapes["visual_projection.weight"] == (512, 768)
    assert json.loads(json.dumps(conv.CLIP_PREPROCESSOR_CONFIG))["resample"] == 3
