"""The transformers side of scripts/device-check.sh: random-weight HF folders and the baseline.

Needs torch and transformers (the GPU machines' own; `.venv-device` for the CPU dry run, pinned in
tools/requirements-device-check.txt). Models are built from a config with `torch.manual_seed`
(transformers' own initialisation: normal(0, initializer_range) weights) and saved with
`save_pretrained` (safetensors), so marnet-extract reads exactly what transformers would.

Shapes: CLIP ViT-B/16 vision tower (HF `clip_vision_model`: hidden_size 768, 12 layers, 12 heads,
patch 16, image 224, projection_dim 512) and a MiniLM-L6-shaped BERT (hidden_size 384, 6 layers,
12 heads, intermediate 1536, vocab 30522); the tiny sizes are a few thousand parameters each.
The tokenizer is the tiny fixture's WordPiece (142 tokens): ids stay below any vocab_size and the
texts tokenise to realistic lengths, which is all a random model's speed and parity depend on.
"""

import json
import shutil
import time
from pathlib import Path

import numpy as np

SIZES = {
    "full": {
        "clip": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                     image_size=224, patch_size=16, projection_dim=512),
        "bert": dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                     intermediate_size=1536, max_position_embeddings=512),
        "max_seq_length": 128,
    },
    "tiny": {
        "clip": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     image_size=32, patch_size=8, projection_dim=32),
        "bert": dict(vocab_size=142, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64),
        "max_seq_length": 48,
    },
}
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def make_models(out, size, seed, fixtures):
    """Writes `out/clip` (CLIPVisionModelWithProjection) and `out/bert` (BertModel + pooling).

    `fixtures` is extract/tests/fixtures/tiny (tokenizer.json, modules.json of the tiny BERT).
    """
    import torch
    from transformers import BertConfig, BertModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    spec, out, fixtures = SIZES[size], Path(out), Path(fixtures)
    torch.manual_seed(seed)
    clip = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_act="quick_gelu", layer_norm_eps=1e-5, **spec["clip"]))
    clip.save_pretrained(out / "clip", safe_serialization=True)
    edge = spec["clip"]["image_size"]
    (out / "clip/preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": edge, "width": edge}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD, "resample": 3,
        "rescale_factor": 1 / 255, "size": {"shortest_edge": edge},
    }, indent=1))
    bert = BertModel(BertConfig(hidden_act="gelu", layer_norm_eps=1e-12, **spec["bert"]))
    bert.save_pretrained(out / "bert", safe_serialization=True)
    for f in ("tokenizer.json", "modules.json"):
        shutil.copyfile(fixtures / "bert" / f, out / "bert" / f)
    (out / "bert/sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": spec["max_seq_length"], "do_lower_case": False}))
    (out / "bert/1_Pooling").mkdir(exist_ok=True)
    (out / "bert/1_Pooling/config.json").write_text(json.dumps({
        "word_embedding_dimension": spec["bert"]["hidden_size"], "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    return out


def _device(name):
    import torch

    # f32 means f32: no TF32 in matmuls or in the patch-embedding convolution.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch.device(name)


def _sync(dev):
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _processor(model_dir):
    # The PIL processor: marnet ports Pillow's bicubic resampling; transformers' default
    # CLIPImageProcessor uses torchvision where it is installed, which resizes differently.
    from transformers import CLIPImageProcessorPil

    return CLIPImageProcessorPil.from_pretrained(str(model_dir))


def _read_manifest(manifest):
    return [json.loads(line) for line in Path(manifest).read_text().splitlines() if line.strip()]


def reference(models, manifest, out, device, batch):
    """transformers f32 x_v (pooler_output, what `--image-pooling cls` means for CLIP) and x_s
    (mean over unmasked tokens, L2-normalised; train/val rows with a text) of every manifest row.

    Writes `out` (.npz: ids, x_v (n, 768), s_ids, x_s (m, 384)) and returns its path.
    """
    import torch
    from PIL import Image
    from tokenizers import Tokenizer
    from transformers import BertModel, CLIPVisionModelWithProjection

    dev, models, root = _device(device), Path(models), Path(manifest).parent
    rows = _read_manifest(manifest)
    proc = _processor(models / "clip")
    clip = CLIPVisionModelWithProjection.from_pretrained(str(models / "clip"), attn_implementation="eager").to(dev).eval()
    x_v = []
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            images = [Image.open(root / r["file_name"]).convert("RGB") for r in rows[i:i + batch]]
            pv = torch.as_tensor(np.asarray(proc(images=images)["pixel_values"]), dtype=torch.float32).to(dev)
            x_v.append(clip.vision_model(pixel_values=pv).pooler_output.float().cpu().numpy())
    bert = BertModel.from_pretrained(str(models / "bert"), attn_implementation="eager").to(dev).eval()
    tok = Tokenizer.from_file(str(models / "bert/tokenizer.json"))
    max_len = json.loads((models / "bert/sentence_bert_config.json").read_text())["max_seq_length"]
    tok.enable_truncation(max_length=max_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    texted = [r for r in rows if r["text"] and r.get("split", "train") != "test"]
    x_s = []
    with torch.no_grad():
        for i in range(0, len(texted), batch):
            enc = tok.encode_batch([r["text"] for r in texted[i:i + batch]])
            ids = torch.tensor([e.ids for e in enc], device=dev)
            mask = torch.tensor([e.attention_mask for e in enc], device=dev)
            h = bert(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
            m = mask.unsqueeze(-1).float()
            mean = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            x_s.append(torch.nn.functional.normalize(mean, dim=-1).float().cpu().numpy())
    np.savez(out, ids=np.array([r["file_name"] for r in rows]), x_v=np.concatenate(x_v),
             s_ids=np.array([r["file_name"] for r in texted]),
             x_s=np.concatenate(x_s) if x_s else np.zeros((0, 1), np.float32))
    return out


class _Images:
    """Map-style dataset: manifest row -> CLIP pixel_values (3, H, W) float32, PIL preprocessing."""

    def __init__(self, manifest, model_dir):
        self.root, self.rows, self.model_dir, self.proc = Path(manifest).parent, _read_manifest(manifest), model_dir, None

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        import torch
        from PIL import Image

        if self.proc is None:
            self.proc = _processor(self.model_dir)
        image = Image.open(self.root / self.rows[i]["file_name"]).convert("RGB")
        return torch.as_tensor(np.asarray(self.proc(images=[image])["pixel_values"][0]), dtype=torch.float32)


def speed(models, manifest, device, batch, workers, iters):
    """transformers bf16 + SDPA image throughput: model-only (random pixels already on the device,
    `iters` timed batches after 3 warm-ups), decode-only (DataLoader with `workers` processes, PIL)
    and end to end (the same loader feeding the model). Returns a dict of images/s and seconds.
    """
    import torch
    from transformers import CLIPVisionModelWithProjection

    dev = _device(device)
    dtype = torch.bfloat16
    model = CLIPVisionModelWithProjection.from_pretrained(
        str(Path(models) / "clip"), attn_implementation="sdpa", dtype=dtype).to(dev).eval()
    edge = model.config.image_size
    pv = torch.randn(batch, 3, edge, edge, device=dev, dtype=dtype)
    with torch.no_grad():
        for _ in range(3):
            model.vision_model(pixel_values=pv)
        _sync(dev)
        t = time.perf_counter()
        for _ in range(iters):
            model.vision_model(pixel_values=pv).pooler_output.float().cpu()
        _sync(dev)
        model_s = time.perf_counter() - t
    data = _Images(manifest, Path(models) / "clip")
    loader = torch.utils.data.DataLoader(data, batch_size=batch, num_workers=workers, pin_memory=dev.type == "cuda",
                                         persistent_workers=False)
    t = time.perf_counter()
    for _ in loader:
        pass
    decode_s = time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad():
        for x in loader:
            model.vision_model(pixel_values=x.to(dev, dtype=dtype, non_blocking=True)).pooler_output.float().cpu()
    _sync(dev)
    e2e_s = time.perf_counter() - t
    n = len(data)
    return {
        "model_images_per_s": round(batch * iters / model_s, 1),
        "decode_images_per_s": round(n / decode_s, 1),
        "e2e_images_per_s": round(n / e2e_s, 1),
        "images": n,
        "e2e_s": round(e2e_s, 3),
        "decode_s": round(decode_s, 3),
        "workers": workers,
        "batch": batch,
    }
