"""DINOv2 and SigLIP parts of tools/make_reference.py (same conventions: tiny random HF
checkpoints saved with save_pretrained, golden outputs of transformers 4.46.3, eager attention,
float32, CPU). Imported by make_reference.py; writes

  tiny/dinov2/         Dinov2Model (image_size 56, patch 8: a 7x7 position grid) + BitImageProcessor
                       (shortest edge 36, centre crop 32: a 4x4 input grid, so every forward
                       interpolates the position embeddings)
  tiny/dinov2_swiglu/  the same with use_swiglu_ffn (the giant model's MLP)
  tiny/siglip/         SiglipVisionModel + SiglipImageProcessor (32x32, bicubic, mean = std = 0.5)
  tiny/siglip_full/    SiglipModel (text and vision towers); its vision tower is what runs
  tiny/golden/{dinov2,dinov2_swiglu,siglip,siglip_full}.safetensors
"""
import os

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file
from transformers import (BitImageProcessor, Dinov2Config, Dinov2Model, SiglipConfig, SiglipImageProcessor,
                          SiglipModel, SiglipVisionConfig, SiglipVisionModel)

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
DATASET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extract", "tests", "fixtures", "dataset")
# Decodable images of fixtures/dataset/manifest.csv, in file order (the corrupt ones are left out).
DATASET_IMAGES = ["a0.png", "b0.jpg", "c0.png", "a1.jpg", "b1.png", "c1.png", "a2.png", "b2_grey.png",
                  "c2_rgba.png", "a3.png", "b3_cmyk.jpg", "c3.jpg", "c4.png"]


def f32(d):
    return {k: np.ascontiguousarray(v.numpy() if torch.is_tensor(v) else v, dtype=np.float32) for k, v in d.items()}


def dataset_features(proc, embed, load_rgb):
    """Features of the fixture dataset's images, for the end-to-end `marnet-extract run` test."""
    pv = np.stack([proc(images=load_rgb(os.path.join(DATASET, "images", n)), return_tensors="np")["pixel_values"][0]
                   for n in DATASET_IMAGES])
    with torch.no_grad():
        return embed(torch.from_numpy(pv))


def dinov2_config(swiglu):
    return Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=56,
                        patch_size=8, layerscale_value=0.5, use_swiglu_ffn=swiglu, attn_implementation="eager")


def make_dinov2(root, gold, names, pixel_values, key, perturb, load_rgb):
    torch.manual_seed(3)
    model = Dinov2Model(dinov2_config(False)).eval()
    perturb(model, 0.05)
    out = os.path.join(root, "dinov2")
    model.save_pretrained(out, safe_serialization=True)
    proc = BitImageProcessor(size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32},
                             image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    proc.save_pretrained(out)
    pv = pixel_values(proc, names)
    batch = torch.from_numpy(np.stack([pv[n] for n in names]))
    g = {f"pixel_values.{key(n)}": pv[n] for n in names}
    with torch.no_grad():
        o = model(pixel_values=batch)
        lhs = o.last_hidden_state
        g.update(last_hidden_state=lhs, pooler_output=o.pooler_output, cls=lhs[:, 0], mean=lhs[:, 1:].mean(1),
                 cls_mean=torch.cat([lhs[:, 0], lhs[:, 1:].mean(1)], -1))
        # Other input grids: 5x7 (non-square, upsampled rows), and 7x7, the checkpoint's own grid
        # (no interpolation at all).
        gen = torch.Generator().manual_seed(11)
        for n, h, w in [(2, 40, 56), (1, 56, 56)]:
            x = torch.randn((n, 3, h, w), generator=gen)
            g[f"input_{h}x{w}"] = x
            g[f"last_hidden_state_{h}x{w}"] = model(pixel_values=x).last_hidden_state
    g["dataset_cls"] = dataset_features(proc, lambda x: model(pixel_values=x).pooler_output, load_rgb)
    save_file(f32(g), os.path.join(gold, "dinov2.safetensors"))

    torch.manual_seed(4)
    swiglu = Dinov2Model(dinov2_config(True)).eval()
    perturb(swiglu, 0.05)
    out = os.path.join(root, "dinov2_swiglu")
    swiglu.save_pretrained(out, safe_serialization=True)
    proc.save_pretrained(out)
    with torch.no_grad():
        o = swiglu(pixel_values=batch[:3])
    save_file(f32({"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output}),
              os.path.join(gold, "dinov2_swiglu.safetensors"))


def siglip_vision_config():
    return SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, attn_implementation="eager")


def make_siglip(root, gold, names, pixel_values, key, perturb, load_rgb):
    torch.manual_seed(5)
    model = SiglipVisionModel(siglip_vision_config()).eval()
    perturb(model, 0.05)
    out = os.path.join(root, "siglip")
    model.save_pretrained(out, safe_serialization=True)
    proc = SiglipImageProcessor(size={"height": 32, "width": 32})
    proc.save_pretrained(out)
    pv = pixel_values(proc, names)
    batch = torch.from_numpy(np.stack([pv[n] for n in names]))
    g = {f"pixel_values.{key(n)}": pv[n] for n in names}
    with torch.no_grad():
        o = model(pixel_values=batch)
        g.update(last_hidden_state=o.last_hidden_state, pooler_output=o.pooler_output,
                 mean=o.last_hidden_state.mean(1))
    g["dataset_pooler_output"] = dataset_features(proc, lambda x: model(pixel_values=x).pooler_output, load_rgb)
    save_file(f32(g), os.path.join(gold, "siglip.safetensors"))

    torch.manual_seed(6)
    text = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                max_position_embeddings=16)
    full = SiglipModel(SiglipConfig(text_config=text, vision_config=siglip_vision_config().to_dict())).eval()
    full.config._attn_implementation = "eager"
    perturb(full, 0.05)
    out = os.path.join(root, "siglip_full")
    full.save_pretrained(out, safe_serialization=True)
    proc.save_pretrained(out)
    with torch.no_grad():
        o = full.vision_model(pixel_values=batch)
        image_embeds = full.get_image_features(pixel_values=batch)
    save_file(f32({"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output,
                   "image_features": image_embeds}), os.path.join(gold, "siglip_full.safetensors"))


def make_towers(root, gold, names, pixel_values, key, perturb, load_rgb):
    make_dinov2(root, gold, names, pixel_values, key, perturb, load_rgb)
    make_siglip(root, gold, names, pixel_values, key, perturb, load_rgb)
    return ["dinov2", "dinov2_swiglu", "siglip", "siglip_full"]
