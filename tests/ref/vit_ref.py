#!/usr/bin/python3
"""PyTorch reference for the ViT backbones (src/nn/vit.c): a plain-PyTorch Vision Transformer written with
timm's parameter names and semantics (timm.models.vision_transformer.VisionTransformer with class-token
pooling, qkv_bias, LayerNorm eps 1e-6, GELU (erf), MLP ratio 4; timm is not packaged in Debian 12), Debian
python3-torch 1.13, CPU, float32. Run once per ctest session by the `vit_ref_fixtures` test.

Writes into OUTDIR:
  vit_s16.safetensors, vit_b16.safetensors   timm-named weights of a 224×224 model (pos_embed 1+14·14 tokens,
                                             ImageNet classifier head.weight/head.bias [1000, D]) with random
                                             values (no pretrained weights offline), written by hand
                                             (8-byte LE header length + JSON + raw F32)
  vit.h5   per case: input x, our embedding head's fc.weight/fc.bias, E = normalize(fc(pool(vit(x)))) and,
           for the cases with dE, parameter gradients of sum(dE * E) for a few named tensors;
           pos/<case>: pos_embed after timm's resample_abs_pos_embed (bicubic, antialias) to other grids.
Cases: vit_s16 at 224 (no resampling, T = 197), at 64 (14×14 -> 4×4 grid, class token, gradients), at 64 with
mean pooling; vit_b16 at 32 (2×2 grid). Usage: vit_ref.py OUTDIR
"""
import json
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vit_torch import ViT  # noqa: E402  (the model, shared with tests/bench/bench_vit_torch.py)

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
torch.set_num_threads(2)


def resample_abs_pos_embed(posemb, new_size, num_prefix_tokens=1):
    """timm.layers.pos_embed.resample_abs_pos_embed with its defaults (bicubic, antialias=True)."""
    hw = int(math.sqrt(posemb.shape[1] - num_prefix_tokens))
    prefix, grid = posemb[:, :num_prefix_tokens], posemb[:, num_prefix_tokens:]
    D = posemb.shape[-1]
    grid = grid.reshape(1, hw, hw, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_size, mode="bicubic", antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, D)
    return torch.cat([prefix, grid], dim=1)


def randomise(m, seed):
    """Random values of the kind a trained checkpoint has: not the identity-like init (norms not 1/0,
    biases not 0), so every tensor matters to the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name in ("cls_token", "pos_embed"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name == "patch_embed.proj.weight":
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / math.sqrt(p.shape[1])))


def save_safetensors(sd, path):
    header, off = {}, 0
    for name, t in sd.items():
        n = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for t in sd.values():
            f.write(t.detach().contiguous().numpy().astype(np.float32).tobytes())


def t2n(t):
    return t.detach().contiguous().numpy().astype(np.float32)


SIZES = {"vit_s16": (384, 12, 6), "vit_b16": (768, 12, 12)}
GRAD_NAMES = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "blocks.0.norm1.weight",
              "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.5.attn.proj.weight", "blocks.5.norm2.bias",
              "blocks.11.mlp.fc1.weight", "blocks.11.mlp.fc2.bias", "norm.weight", "norm.bias", "fc.weight", "fc.bias"]
CASES = [  # name, arch, input size, pool, images, gradients
    ("s16_224", "vit_s16", 224, "token", 2, False),
    ("s16_64", "vit_s16", 64, "token", 3, True),
    ("s16_64_mean", "vit_s16", 64, "mean", 2, False),
    ("b16_32", "vit_b16", 32, "token", 2, True),
]
D_EMB = 32
models = {}
with h5py.File(os.path.join(OUT, "vit.h5"), "w") as f:
    for arch, (dim, depth, heads) in SIZES.items():
        m = ViT(dim, depth, heads, 14)
        randomise(m, 7 if arch == "vit_s16" else 8)
        save_safetensors(m.state_dict(), os.path.join(OUT, f"{arch}.safetensors"))
        models[arch] = m
        f.create_dataset(f"pos/{arch}_14", data=t2n(m.pos_embed))
        for grid in (4, 16):  # downsampling (64 px) and upsampling (256 px) of the 14×14 grid
            f.create_dataset(f"pos/{arch}_{grid}", data=t2n(resample_abs_pos_embed(m.pos_embed, (grid, grid))))
    for case, arch, size, pool, n, grads in CASES:
        m = models[arch]
        dim = SIZES[arch][0]
        torch.manual_seed(100 + len(f.keys()))  # fixed per case (str hash() is salted per process)
        fc = nn.Linear(dim, D_EMB)
        with torch.no_grad():
            fc.weight.normal_(0, 0.05)
            fc.bias.normal_(0, 0.05)
        grid = size // 16
        pos = nn.Parameter(resample_abs_pos_embed(m.pos_embed.detach(), (grid, grid)))
        saved = m.pos_embed
        m.pos_embed = pos
        m.zero_grad()
        x = torch.randn(n, 3, size, size)
        E = F.normalize(fc(m.features(x, pool)), dim=1)
        g = f.create_group(case)
        g.attrs["arch"], g.attrs["size"], g.attrs["pool"] = arch, size, pool
        g.create_dataset("x", data=t2n(x))
        g.create_dataset("fc.weight", data=t2n(fc.weight))
        g.create_dataset("fc.bias", data=t2n(fc.bias))
        g.create_dataset("E", data=t2n(E))
        if grads:
            dE = torch.randn_like(E)
            (E * dE).sum().backward()
            g.create_dataset("dE", data=t2n(dE))
            params = dict(m.named_parameters())
            params["fc.weight"], params["fc.bias"] = fc.weight, fc.bias
            for name in GRAD_NAMES:
                g.create_dataset("grad/" + name, data=t2n(params[name].grad))
        m.pos_embed = saved
print("vit_ref: fixtures written to", OUT)
