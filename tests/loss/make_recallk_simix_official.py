#!/usr/bin/python3
"""Reference values of the Recall@k surrogate WITH SiMix from the OFFICIAL code, kept as test data.

As make_recallk_official.py (the official src/losses.py RecallatK, imported from a checkout of
github.com/yash0307/RecallatK_surrogate and run unchanged in float64 on the CPU), plus the official
src/mixup.py pos_mixup, also imported unchanged, with its weights injected: np.random.rand, the only draw
pos_mixup makes (one per virtual row, in its fixed pair order), is replaced by a list of recorded values.
The batch loop is src/main.py's with criterion.mixup: output_mixup = pos_mixup(output, num_id), then
loss = sum over every row q of output_mixup of criterion(output_mixup, q), loss.backward(); the gradient
is output's (the real rows), through the mixup. The criterion is built with batch_size = the real B
(opt.bs), so k is clipped to B, while forward() divides by the rows of output_mixup.

The official pos_mixup knows m = 3, 4 and 6 only. Batches are sorted classes of equal size (the official
code groups rows by position), the alphas are recorded in pos_mixup's order: class by class, pair by pair.

Usage: make_recallk_simix_official.py OFFICIAL_REPO/src OUT.h5  (writes tests/loss/data/recallk_simix_official.h5)
Each case is a group /caseN: embeddings [B, D] float64, labels [B] int64, alpha [V] float64, loss (scalar),
grad [B, D], and attributes tau, k, k_temperatures, m.
"""
import sys
import types

import h5py
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.Tensor.cuda = lambda self, *a, **k: self  # float64 on the CPU
sys.modules.setdefault("faiss", types.ModuleType("faiss"))
sys.path.insert(0, sys.argv[1])
import losses  # noqa: E402  (the official src/losses.py)
import mixup  # noqa: E402  (the official src/mixup.py)

CASES = [  # (seed, C, m, D, tau, k_vals, k_temperatures)
    (1, 3, 4, 8, 0.01, [1, 2, 4, 8, 16], [1, 2, 4, 8, 16]),  # official defaults; k 16 > B = 12: clipped to 12, not 30
    (2, 4, 3, 16, 0.05, [1, 4, 16, 32], [1, 1, 1, 1]),      # m = 3; k 16, 32 > B = 12 (B + V = 24)
    (3, 3, 6, 8, 0.01, [1, 2, 4, 8, 16], [1, 1, 1, 1, 1]),  # m = 6: 15 virtual rows per class
    (4, 5, 4, 8, 0.05, [1, 4], [100, 100]),                 # min(., k) clips at k = 1
]


class Injected:
    def __init__(self, values):
        self.values, self.i = values, 0

    def __call__(self):
        v = self.values[self.i]
        self.i += 1
        return v


with h5py.File(sys.argv[2], "w") as f:
    for n, (seed, C, m, D, tau, ks, tks) in enumerate(CASES):
        rng = np.random.default_rng(seed)
        E = np.repeat(rng.normal(size=(C, D)), m, axis=0) * 0.8 + rng.normal(size=(C * m, D))
        E /= np.linalg.norm(E, axis=1, keepdims=True)
        labels = np.repeat(np.arange(C) * 7 + 3, m).astype(np.int64)
        B, V = C * m, C * m * (m - 1) // 2
        alpha = rng.uniform(size=V)
        crit = losses.RecallatK(anneal=tau, batch_size=B, num_id=C, feat_dims=D, k_vals=ks, k_temperatures=tks,
                                mixup=1)
        out = torch.tensor(E, requires_grad=True)
        draw = Injected(alpha)
        saved = mixup.np.random.rand
        mixup.np.random.rand = draw
        try:
            out_mix = mixup.pos_mixup(out, crit.num_id)
        finally:
            mixup.np.random.rand = saved
        assert draw.i == V and out_mix.shape[0] == B + V
        loss = 0.0
        for q in range(out_mix.shape[0]):
            loss = loss + crit(out_mix, q)
        loss.backward()
        g = f.create_group("case%d" % n)
        g["embeddings"], g["labels"], g["alpha"] = E, labels, alpha
        g["loss"], g["grad"] = loss.item(), out.grad.numpy()
        g.attrs["tau"], g.attrs["m"] = tau, m
        g.attrs["k"], g.attrs["k_temperatures"] = np.array(ks, np.int64), np.array(tks, np.float64)
        print("case%d B=%d V=%d m=%d D=%d tau=%g k=%s tk=%s: loss %.15f" % (n, B, V, m, D, tau, ks, tks, loss.item()))
