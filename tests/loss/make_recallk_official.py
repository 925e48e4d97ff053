#!/usr/bin/python3
"""Reference values of the Recall@k surrogate from the OFFICIAL code, kept as test data.

The official loss (Patel, Tolias, Matas, CVPR 2022; github.com/yash0307/RecallatK_surrogate, src/losses.py,
class RecallatK) is imported from a checkout of that repository, never copied here. It calls .cuda() and
builds torch.Tensor constants; this script runs it unchanged in float64 on the CPU by making float64 the
default dtype, turning Tensor.cuda into the identity and stubbing the unused faiss import. The batch loop
is src/main.py's: loss = sum over q of criterion(output, q), then loss.backward(). The official code
groups rows by position (num_id classes of m consecutive rows), so the batches are sorted classes of
equal size; tests/loss/ref_torch_loss.py feeds `aptrain loss` a shuffled copy.

Usage: make_recallk_official.py OFFICIAL_REPO/src OUT.h5      (writes tests/loss/data/recallk_official.h5)
Each case is a group /caseN: embeddings [B, D] float64, labels [B] int64, loss (scalar), grad [B, D], and
attributes tau, k, k_temperatures, m.
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

CASES = [  # (seed, C, m, D, tau, k_vals, k_temperatures)
    (1, 6, 4, 8, 0.01, [1, 2, 4, 8, 16], [1, 2, 4, 8, 16]),  # the official defaults
    (2, 5, 6, 16, 0.05, [1, 4, 16, 32], [1, 1, 1, 1]),      # iNaturalist's k list; 32 > B = 30 is clipped
    (3, 10, 2, 8, 0.01, [1, 2, 4, 8, 16], [1, 1, 1, 1, 1]),  # pairs: one positive per query
    (4, 3, 8, 8, 0.05, [1, 4], [100, 100]),                  # min(., k) clips at k = 1, not at 4
]

with h5py.File(sys.argv[2], "w") as f:
    for n, (seed, C, m, D, tau, ks, tks) in enumerate(CASES):
        rng = np.random.default_rng(seed)
        E = np.repeat(rng.normal(size=(C, D)), m, axis=0) * 0.8 + rng.normal(size=(C * m, D))
        E /= np.linalg.norm(E, axis=1, keepdims=True)
        labels = np.repeat(np.arange(C) * 7 + 3, m).astype(np.int64)
        B = C * m
        crit = losses.RecallatK(anneal=tau, batch_size=B, num_id=C, feat_dims=D, k_vals=ks, k_temperatures=tks,
                                mixup=0)
        out = torch.tensor(E, requires_grad=True)
        loss = 0.0
        for q in range(B):
            loss = loss + crit(out, q)
        loss.backward()
        g = f.create_group("case%d" % n)
        g["embeddings"], g["labels"] = E, labels
        g["loss"], g["grad"] = loss.item(), out.grad.numpy()
        g.attrs["tau"], g.attrs["m"] = tau, m
        g.attrs["k"], g.attrs["k_temperatures"] = np.array(ks, np.int64), np.array(tks, np.float64)
        print("case%d B=%d m=%d D=%d tau=%g k=%s tk=%s: loss %.15f" % (n, B, m, D, tau, ks, tks, loss.item()))
