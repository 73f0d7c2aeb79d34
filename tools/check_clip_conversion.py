#!/usr/bin/env python3
"""Check a converted CLIP vision folder against the int8 ONNX graph it came from (optional, slow: ~1 min).

Usage: check_clip_conversion.py clip_encoder.int8.onnx data/demo/models/clip-vit-b16-vision/model.safetensors
Set SIMQ=1 to simulate the graph's dynamic uint8 activation quantisation (DynamicQuantizeLinear)
in the numpy forward. Runs a numpy CLIP ViT-B/16 forward (HF CLIPVisionModelWithProjection, quick_gelu)
on the converted f32 weights and the ONNX graph with `onnx.reference` on one seeded random input,
printing the cosine of the residual stream after every layer and of `image_embeds`.
Measured (SIMQ=1): layer 0 cosine 1.000000, decaying to 0.974 by layer 10 as activation-rounding
noise compounds; image_embeds 0.966. A wrong name or transpose gives ~0 from the layer it touches.
"""
import sys, time, numpy as np, onnx
from onnx.reference import ReferenceEvaluator
from safetensors.numpy import load_file
W = load_file(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
def ln(h, p, eps=1e-5):
    m = h.mean(-1, keepdims=True); v = ((h - m) ** 2).mean(-1, keepdims=True)
    return (h - m) / np.sqrt(v + eps) * W[p + ".weight"] + W[p + ".bias"]
import os
QUANT = os.environ.get("SIMQ") == "1"
def dq(h):
    lo, hi = min(0.0, float(h.min())), max(0.0, float(h.max()))
    s = np.float32((hi - lo) / 255); zp = np.clip(np.round(-lo / s), 0, 255)
    return ((np.clip(np.round(h / s) + zp, 0, 255) - zp) * s).astype(np.float32)
def lin(h, p, bias=True):
    if QUANT: h = dq(h)
    y = h @ W[p + ".weight"].T
    return y + W[p + ".bias"] if bias else y
v = "vision_model."
pw = W[v + "embeddings.patch_embedding.weight"].reshape(768, -1)
patches = x.reshape(1, 3, 14, 16, 14, 16).transpose(0, 2, 4, 1, 3, 5).reshape(1, 196, 768)
emb = patches @ pw.T
h = np.concatenate([W[v + "embeddings.class_embedding"][None, None], emb], 1) + W[v + "embeddings.position_embedding.weight"][None]
h = ln(h, v + "pre_layrnorm")
mine = {"/vision_model/pre_layrnorm/Add_1_output_0": h}
for i in range(12):
    p = f"{v}encoder.layers.{i}."
    r = h; h = ln(h, p + "layer_norm1")
    q = lin(h, p + "self_attn.q_proj") * 64 ** -0.5; k = lin(h, p + "self_attn.k_proj"); vv = lin(h, p + "self_attn.v_proj")
    sp = lambda t: t.reshape(1, 197, 12, 64).transpose(0, 2, 1, 3)
    a = sp(q) @ sp(k).transpose(0, 1, 3, 2); a = np.exp(a - a.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
    o = (a @ sp(vv)).transpose(0, 2, 1, 3).reshape(1, 197, 768)
    h = r + lin(o, p + "self_attn.out_proj")
    r = h; h = ln(h, p + "layer_norm2"); h = lin(h, p + "mlp.fc1"); h = h * (1 / (1 + np.exp(-1.702 * h))); h = r + lin(h, p + "mlp.fc2"); mine.update({f"/vision_model/encoder/layers.{i}/Add_1_output_0": h} if i < 11 else {})
pooled = ln(h[:, 0], v + "post_layernorm")
ours = lin(pooled, "visual_projection", bias=False)
t = time.time()
m = onnx.load(sys.argv[1])
names = list(mine)
for n in names: m.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
sess = ReferenceEvaluator(m)
res = sess.run(["image_embeds"] + names, {"pixel_values": x})
ref = res[0]
for n, r in zip(names, res[1:]):
    a = mine[n].ravel(); b = r.ravel()
    print(n, "cos %.6f" % (a @ b / np.linalg.norm(a) / np.linalg.norm(b)), "maxabs %.3g" % np.abs(a-b).max(), "absmax %.3g" % np.abs(b).max())
cos = float((ours * ref).sum() / np.linalg.norm(ours) / np.linalg.norm(ref))
print(f"onnx.reference {time.time()-t:.1f}s; image_embeds cosine(numpy f32 on converted weights, int8 graph) = {cos:.5f}; max abs diff {np.abs(ours-ref).max():.4f}, norm {np.linalg.norm(ref):.3f}")
