#!/usr/bin/env python3
"""Builds the tiny parity fixtures of marnet-extract (extract/tests/fixtures/tiny/).

Creates TINY random ViT, CLIP-vision (with visual_projection) and BERT checkpoints with
transformers, a tiny WordPiece tokenizer, small synthetic images, and golden outputs computed by
transformers (eager attention, float32, CPU):

  tiny/vit/{config.json, model.safetensors, preprocessor_config.json}
  tiny/clip/{config.json, model.safetensors, preprocessor_config.json}
  tiny/bert/{config.json, model.safetensors, tokenizer.json, modules.json,
             1_Pooling/config.json, sentence_bert_config.json}
  tiny/images/*.png|jpg
  tiny/golden/{vit,clip,bert}.safetensors, tiny/golden/texts.json
  tiny/{dinov2,dinov2_swiglu,siglip,siglip_full}/ and their goldens (tools/make_reference_towers.py)

Run by hand (pinned versions in tools/requirements-reference.txt); the Rust tests only read the
files. Deterministic: fixed seeds. `make_reference.py towers` rewrites only the DINOv2 and SigLIP
folders and goldens, keeping the other fixtures as they are.
"""
import json
import os
import shutil

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import (BertConfig, BertModel, BertTokenizerFast, CLIPImageProcessor,
                          CLIPVisionConfig, CLIPVisionModelWithProjection, ViTConfig,
                          ViTImageProcessor, ViTModel)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extract", "tests", "fixtures", "tiny")
IMG = os.path.join(ROOT, "images")
GOLD = os.path.join(ROOT, "golden")
IMAGE_SIZE = 32


def perturb(model, scale):
    """Random init alone leaves LayerNorms at 1/0 and tiny weights: add noise to every
    parameter so that every weight matters numerically."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


def make_images():
    os.makedirs(IMG, exist_ok=True)
    rng = np.random.default_rng(7)
    out = {}
    # Horizontal/vertical gradient, 64x48 (w x h).
    y, x = np.mgrid[0:48, 0:64]
    grad = np.stack([x * 4, y * 5, (x + y) * 2], -1).clip(0, 255).astype(np.uint8)
    out["gradient_64x48.png"] = Image.fromarray(grad, "RGB")
    # Photo-like: smooth blobs + noise, 96x80.
    y, x = np.mgrid[0:80, 0:96] / 10.0
    photo = np.stack([np.sin(x) * np.cos(y * 1.3), np.sin(x * 0.7 + y), np.cos(x * 1.9 - y * 0.4)], -1)
    photo = ((photo + 1) * 110 + rng.normal(0, 12, photo.shape)).clip(0, 255).astype(np.uint8)
    out["photo_96x80.png"] = Image.fromarray(photo, "RGB")
    # Wide non-square, 448x224, with sharp edges (checkerboard) and a ramp.
    y, x = np.mgrid[0:224, 0:448]
    wide = np.stack([((x // 16 + y // 16) % 2) * 255, x * 255 // 447, 255 - y * 255 // 223], -1).astype(np.uint8)
    out["wide_448x224.png"] = Image.fromarray(wide, "RGB")
    # Greyscale (mode L), 40x30.
    y, x = np.mgrid[0:30, 0:40]
    out["grey_40x30.png"] = Image.fromarray(((x * 6 + y * 3) % 256).astype(np.uint8), "L")
    # RGBA with varying alpha (fully transparent corner hides red), 50x50.
    y, x = np.mgrid[0:50, 0:50]
    rgba = np.stack([np.full_like(x, 255), x * 5, y * 5, (x * 5 + y * 2).clip(0, 255)], -1).astype(np.uint8)
    out["rgba_50x50.png"] = Image.fromarray(rgba, "RGBA")
    # Already at target size: resize is the identity, so preprocessing must match exactly.
    out["exact_32x32.png"] = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB")
    # Palette with a transparency entry (tRNS), 24x20.
    pal = Image.fromarray((np.add.outer(np.arange(20), np.arange(24)) % 4).astype(np.uint8), "P")
    pal.putpalette([200, 30, 30, 30, 200, 30, 30, 30, 200, 250, 250, 0] + [0] * (256 * 3 - 12))
    pal.info["transparency"] = 2
    out["palette_24x20.png"] = pal
    # A JPEG (decoder differences between libjpeg-turbo and the image crate are measured).
    out["photo_96x80.jpg"] = out["photo_96x80.png"]
    # CMYK JPEG at the target size (no resize): PIL's CMYK->RGB vs the image crate's is measured.
    out["cmyk_32x32.jpg"] = Image.fromarray(photo[:32, :32], "RGB").convert("CMYK")
    for name, im in out.items():
        path = os.path.join(IMG, name)
        if name.endswith(".jpg"):
            im.save(path, quality=90)
        elif name.startswith("palette"):
            im.save(path, transparency=2)
        else:
            im.save(path)
    return sorted(out)


def load_rgb(path):
    """Decode + alpha composited on white, as current transformers `convert_to_rgb` does
    (4.46.3's drops alpha instead; DESIGN.md section 5 asks for the composite)."""
    im = Image.open(path)
    im.load()
    if im.mode == "RGB":
        return im
    rgba = im.convert("RGBA")
    bg = Image.new("RGBA", rgba.size, (255, 255, 255))
    return Image.alpha_composite(bg, rgba).convert("RGB")


def pixel_values(processor, names):
    return {n: processor(images=load_rgb(os.path.join(IMG, n)), return_tensors="np")["pixel_values"][0]
            for n in names}


def key(name):
    return name.replace(".", "_")


def make_vit(names):
    torch.manual_seed(0)
    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                    image_size=IMAGE_SIZE, patch_size=8, attn_implementation="eager")
    model = ViTModel(cfg, add_pooling_layer=False).eval()
    perturb(model, 0.05)
    out = os.path.join(ROOT, "vit")
    model.save_pretrained(out, safe_serialization=True)
    proc = ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    proc.save_pretrained(out)
    pv = pixel_values(proc, names)
    batch = torch.from_numpy(np.stack([pv[n] for n in names]))
    with torch.no_grad():
        lhs = model(pixel_values=batch).last_hidden_state
    gold = {f"pixel_values.{key(n)}": pv[n] for n in names}
    gold["batch_pixel_values"] = batch.numpy()
    gold["last_hidden_state"] = lhs.numpy()
    gold["cls"] = lhs[:, 0].numpy()
    gold["mean"] = lhs[:, 1:].mean(1).numpy()
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in gold.items()},
              os.path.join(GOLD, "vit.safetensors"))


def make_clip(names):
    torch.manual_seed(1)
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=IMAGE_SIZE, patch_size=8, projection_dim=24, attn_implementation="eager")
    model = CLIPVisionModelWithProjection(cfg).eval()
    perturb(model, 0.05)
    out = os.path.join(ROOT, "clip")
    model.save_pretrained(out, safe_serialization=True)
    proc = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    proc.save_pretrained(out)
    pv = pixel_values(proc, names)
    batch = torch.from_numpy(np.stack([pv[n] for n in names]))
    with torch.no_grad():
        vo = model.vision_model(pixel_values=batch)
        lhs, pooled = vo.last_hidden_state, vo.pooler_output
        embeds = model(pixel_values=batch).image_embeds
        mean = model.visual_projection(model.vision_model.post_layernorm(lhs[:, 1:].mean(1)))
    gold = {f"pixel_values.{key(n)}": pv[n] for n in names}
    gold.update(batch_pixel_values=batch.numpy(), last_hidden_state=lhs.numpy(), pooler_output=pooled.numpy(),
                image_embeds=embeds.numpy(), mean_embeds=mean.numpy())
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in gold.items()},
              os.path.join(GOLD, "clip.safetensors"))


WORDS = ("the a of and with rice noodle soup chicken beef pork fish egg tofu spicy sweet sour salt "
         "sugar oil garlic ginger onion pepper green red hot cold fried steamed boiled food dish "
         "bowl plate is are on in to for very much long short text about many tokens hello world").split()


def make_tokenizer(path):
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789.,!?'-")
    vocab = specials + letters + ["##" + c for c in letters] + WORDS + ["##s", "##ed", "##ing", "##er"]
    vocab = list(dict.fromkeys(vocab))
    tok = Tokenizer(WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))])
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.save(path)
    return len(vocab)


TEXTS = [
    "Spicy fried rice with egg and green onion.",
    "hello",
    "",
    "Steamed fish, ginger, garlic & soy — très bon!",
    " ".join(["very long text about many tokens"] * 100),  # 600 words: truncated
]
MAX_SEQ = 48


def make_bert():
    out = os.path.join(ROOT, "bert")
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    vocab_size = make_tokenizer(os.path.join(out, "tokenizer.json"))
    torch.manual_seed(2)
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, attn_implementation="eager")
    model = BertModel(cfg, add_pooling_layer=False).eval()
    perturb(model, 0.05)
    model.save_pretrained(out, safe_serialization=True)
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
              open(os.path.join(out, "modules.json"), "w"), indent=2)
    json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
               "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False},
              open(os.path.join(out, "1_Pooling", "config.json"), "w"), indent=2)
    json.dump({"max_seq_length": MAX_SEQ, "do_lower_case": False},
              open(os.path.join(out, "sentence_bert_config.json"), "w"), indent=2)
    tok = BertTokenizerFast(tokenizer_file=os.path.join(out, "tokenizer.json"), pad_token="[PAD]",
                            unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    enc = tok(TEXTS, padding=True, truncation=True, max_length=MAX_SEQ, return_tensors="pt")
    with torch.no_grad():
        lhs = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                    token_type_ids=torch.zeros_like(enc["input_ids"])).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).float()
    mean = (lhs * m).sum(1) / m.sum(1).clamp(min=1e-9)  # sentence-transformers Pooling
    gold = {
        "input_ids": enc["input_ids"].numpy().astype(np.float32),
        "attention_mask": enc["attention_mask"].numpy().astype(np.float32),
        "last_hidden_state": lhs.numpy(),
        "cls": lhs[:, 0].numpy(),
        "mean": mean.numpy(),
        "mean_normalized": torch.nn.functional.normalize(mean, dim=-1).numpy(),
        "gelu_3": torch.nn.functional.gelu(torch.tensor([3.0, -1.0, 0.5])).numpy(),
    }
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in gold.items()},
              os.path.join(GOLD, "bert.safetensors"))
    json.dump({"texts": TEXTS, "max_seq_length": MAX_SEQ}, open(os.path.join(GOLD, "texts.json"), "w"),
              indent=2, ensure_ascii=False)


def main():
    import hashlib
    import sys

    from make_reference_towers import make_towers
    towers_only = sys.argv[1:] == ["towers"]
    if towers_only:
        names = sorted(os.listdir(IMG))
        models = []
    else:
        if os.path.isdir(ROOT):
            shutil.rmtree(ROOT)
        os.makedirs(GOLD)
        names = make_images()
        make_vit(names)
        make_clip(names)
        make_bert()
        models = ["vit", "clip", "bert"]
    models += make_towers(ROOT, GOLD, names, pixel_values, key, perturb, load_rgb)
    sha_path = os.path.join(GOLD, "sha256.json")
    hashes = json.load(open(sha_path)) if towers_only else {}
    hashes.update({m: hashlib.sha256(open(os.path.join(ROOT, m, "model.safetensors"), "rb").read()).hexdigest()
                   for m in models})
    json.dump(hashes, open(sha_path, "w"), indent=2)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    print(f"wrote {ROOT} ({total / 1024:.0f} KiB); images: {names}")


if __name__ == "__main__":
    main()
