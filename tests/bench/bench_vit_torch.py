#!/usr/bin/python3
"""PyTorch peer of `bench_model --arch vit_s16|vit_b16`: one training forward + backward (no loss, no optimizer;
dE random) of the same ViT (tests/ref/vit_torch.py: timm's topology and names) with our embedding head
(class token -> Linear(D, --dim) -> F.normalize), float32, CPU, --threads intra-op threads.
  /usr/bin/python3 tests/bench/bench_vit_torch.py --arch vit_s16 --size 224 --batch 16 --threads 2
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from vit_torch import ViT  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--arch", default="vit_s16", choices=("vit_s16", "vit_b16"))
p.add_argument("--size", type=int, default=224)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--dim", type=int, default=128)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
dim, depth, heads = {"vit_s16": (384, 12, 6), "vit_b16": (768, 12, 12)}[a.arch]
m = ViT(dim, depth, heads, a.size // 16)
fc = nn.Linear(dim, a.dim)
torch.manual_seed(2)
x = torch.randn(a.batch, 3, a.size, a.size)
dE = torch.randn(a.batch, a.dim) * 0.01
params = list(m.parameters()) + list(fc.parameters())
tf, tb, ts = [], [], []
for it in range(-1, a.reps):
    for q in params:
        q.grad = None
    t0 = time.perf_counter()
    E = F.normalize(fc(m.features(x, "token")), dim=1)
    t1 = time.perf_counter()
    E.backward(dE)
    t2 = time.perf_counter()
    if it >= 0:
        tf.append(t1 - t0), tb.append(t2 - t1), ts.append(t2 - t0)
med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
print(f"torch {torch.__version__} {a.arch} 3x{a.size}x{a.size} batch {a.batch} threads {a.threads}: median fwd "
      f"{1e3 * med(tf):.1f} ms, bwd {1e3 * med(tb):.1f} ms, step {1e3 * med(ts):.1f} ms (min {1e3 * min(ts):.1f}) "
      f"-> {a.batch / med(ts):.0f} img/s; {sum(q.numel() for q in params)} params")
