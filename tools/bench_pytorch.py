#!/usr/bin/env python3
"""PyTorch eager reference timings on this machine, for docs/benchmarks.md (the "PyTorch" columns).

Same work as `bench_heads` / `bench_extract`: the MARNet heads with the DESIGN §2 defaults on a
synthetic Vireo-Food172-size cache (seconds per `fusion` phase-1 epoch and per `baseline` epoch,
DDPM sampling of 33,154 test rows), and the demo's CLIP ViT-B/16 vision tower (images/s, batch 4).
Not part of `just test`; needs torch (and transformers for the image part), pinned in
tools/requirements-bench.txt. Threads: torch's default (one per core). Each timed epoch follows a
short warm-up; the image model runs `--n-images` images in batches of 4 after one warm-up batch,
with eager attention and with PyTorch's default (SDPA).

Run: `just bench-pytorch` or python tools/bench_pytorch.py [--quick] [--image-model DIR]
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

D_V, D_S, K = 768, 384, 172
D, HID, TEMB, T, BATCH = 512, 1024, 128, 50, 256


def cosine_schedule(t_max, s=0.008):
    f = [math.cos(((i / t_max) + s) / (1 + s) * math.pi / 2) ** 2 for i in range(t_max + 1)]
    betas = torch.tensor([min(1 - f[i + 1] / f[i], 0.999) for i in range(t_max)], dtype=torch.float64)
    ac = torch.cumprod(1 - betas, 0)
    ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), ac[:-1]])
    return betas, ac, ac_prev


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1_x = nn.Linear(D_S, HID, bias=False)
        self.l1_t = nn.Linear(TEMB, HID, bias=False)
        self.l1_v = nn.Linear(D_V, HID)
        self.l2, self.l3, self.l4 = nn.Linear(HID, HID), nn.Linear(HID, HID), nn.Linear(HID, D_S)
        self.t_in, self.t_out = nn.Linear(TEMB, TEMB), nn.Linear(TEMB, TEMB)
        h = TEMB // 2
        t = torch.arange(1, T + 1, dtype=torch.float64)[:, None]
        fr = torch.exp(-math.log(10000.0) * torch.arange(h, dtype=torch.float64) / h)[None]
        self.register_buffer("table", torch.cat([torch.sin(t * fr), torch.cos(t * fr)], 1).float())

    def time_term(self, t_idx):
        return self.l1_t(self.t_out(F.silu(self.t_in(self.table[t_idx]))))

    def terms(self, x_t, cond, time):
        h = F.silu(self.l1_x(x_t) + cond + time)
        h = F.silu(self.l2(h))
        h = F.silu(self.l3(h))
        return self.l4(h)


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.e_v, self.e_s = nn.Linear(D_V, D), nn.Linear(D_S, D)
        self.cls, self.cdr_cls = nn.Linear(D, K), nn.Linear(D, K)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.den = Denoiser()


def ita(a, b, logit_scale):
    a = a / torch.sqrt((a * a).sum(1, keepdim=True) + 1e-16)
    b = b / torch.sqrt((b * b).sum(1, keepdim=True) + 1e-16)
    s = a @ b.t() * logit_scale.clamp(max=math.log(100)).exp()
    y = torch.arange(a.shape[0])
    return F.cross_entropy(s, y) + F.cross_entropy(s.t(), y)


def fusion_phase1_epoch(m, opt, x_v, x_s, y, sqrt_ac, sqrt_1mac):
    n = x_v.shape[0]
    perm = torch.randperm(n)
    for i in range(0, n, BATCH):
        idx = perm[i:i + BATCH]
        xv, xs, lab = x_v[idx], x_s[idx], y[idx]
        xv_p = F.leaky_relu(m.e_v(xv), 0.01)
        xs_p = F.leaky_relu(m.e_s(xs), 0.01)
        l_ema = F.cross_entropy(m.cls(xv_p), lab) + ita(xv_p, xs_p, m.logit_scale)
        t_idx = torch.randint(0, T, (idx.shape[0],))
        eps = torch.randn_like(xs)
        x_t = xs * sqrt_ac[t_idx, None] + eps * sqrt_1mac[t_idx, None]
        x0 = m.den.terms(x_t, m.den.l1_v(xv), m.den.time_term(t_idx))
        l_cdr = F.cross_entropy(m.cdr_cls(F.leaky_relu(m.e_s(x0), 0.01)), lab) + F.mse_loss(x0, xs)
        opt.zero_grad(set_to_none=True)
        (l_ema + l_cdr).backward()
        opt.step()


def baseline_epoch(lin, opt, x_v, y):
    n = x_v.shape[0]
    perm = torch.randperm(n)
    for i in range(0, n, BATCH):
        idx = perm[i:i + BATCH]
        loss = F.cross_entropy(lin(x_v[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.no_grad()
def sample(den, x_v, betas, ac, ac_prev, chunk=4096):
    coef1 = (ac_prev.sqrt() * betas / (1 - ac)).float()
    coef2 = ((1 - betas).sqrt() * (1 - ac_prev) / (1 - ac)).float()
    var = ((1 - ac_prev) / (1 - ac) * betas).float()
    out = []
    for i in range(0, x_v.shape[0], chunk):
        cond = den.l1_v(x_v[i:i + chunk])
        x = torch.randn(cond.shape[0], D_S)
        for t in range(T, 0, -1):
            x0 = den.terms(x, cond, den.time_term(torch.tensor([t - 1])))
            x = coef1[t - 1] * x0 + coef2[t - 1] * x
            if t > 1:
                x = x + var[t - 1].sqrt() * torch.randn_like(x)
        out.append(x)
    return torch.cat(out)


def bench_heads(div):
    torch.manual_seed(0)
    n_train, n_test = 66_071 // div, 33_154 // div
    x_v, x_s = torch.randn(n_train, D_V), torch.randn(n_train, D_S)
    y = torch.arange(n_train) % K
    betas, ac, ac_prev = cosine_schedule(T)
    sqrt_ac, sqrt_1mac = ac.sqrt().float(), (1 - ac).sqrt().float()
    m = Heads()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1e-4)
    fusion_phase1_epoch(m, opt, x_v[:2048], x_s[:2048], y[:2048], sqrt_ac, sqrt_1mac)  # warm-up
    t0 = time.perf_counter()
    fusion_phase1_epoch(m, opt, x_v, x_s, y, sqrt_ac, sqrt_1mac)
    fusion = time.perf_counter() - t0
    lin = nn.Linear(D_V, K)
    opt = torch.optim.AdamW(lin.parameters(), lr=1e-3, weight_decay=1e-4)
    baseline_epoch(lin, opt, x_v[:2048], y[:2048])
    t0 = time.perf_counter()
    baseline_epoch(lin, opt, x_v, y)
    baseline = time.perf_counter() - t0
    x_test = torch.randn(n_test, D_V)
    t0 = time.perf_counter()
    sample(m.den, x_test, betas, ac, ac_prev)
    sampling = time.perf_counter() - t0
    print(f"| heads fusion phase 1 | s / epoch ({n_train} rows) | {fusion:.2f} |")
    print(f"| heads baseline | s / epoch ({n_train} rows) | {baseline:.2f} |")
    print(f"| CDR sampling, DDPM T = 50 | s for {n_test} rows | {sampling:.1f} |")


@torch.no_grad()
def bench_image(path, n_images, batch):
    from transformers import CLIPVisionModelWithProjection
    for attn in ["eager", "sdpa"]:
        model = CLIPVisionModelWithProjection.from_pretrained(path, attn_implementation=attn).eval()
        x = torch.randn(batch, 3, 224, 224)
        model(pixel_values=x)
        t0 = time.perf_counter()
        for _ in range(n_images // batch):
            model(pixel_values=x)
        dt = time.perf_counter() - t0
        n = (n_images // batch) * batch
        print(f"| image CLIP ViT-B/16 ({attn} attention) | images/s, batch {batch} | {n / dt:.2f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="divide row counts by 8")
    ap.add_argument("--image-model", default=None, help="CLIP vision folder (config.json + model.safetensors)")
    ap.add_argument("--n-images", type=int, default=16)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| what | unit | value |\n|---|---|---:|")
    x = torch.randn(4096, 768)
    w = torch.randn(768, 768)
    best = min(_time(lambda: x @ w) for _ in range(5))
    print(f"| matmul 4096×768·768×768 | GFLOP/s | {2 * 4096 * 768 * 768 / best / 1e9:.0f} |")
    bench_heads(8 if a.quick else 1)
    if a.image_model:
        bench_image(a.image_model, a.n_images, 4)


def _time(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
