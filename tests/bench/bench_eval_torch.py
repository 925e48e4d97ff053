"""PyTorch brute-force peer of bench_eval: blocked torch.mm + topk over the same embeddings.

usage: OMP_NUM_THREADS=T /usr/bin/python3 bench_eval_torch.py embeddings_bench.h5 [--threads T]
       [--block B] [--k K] [--map-queries Q]
Recall@K from the top-k lists (self excluded by setting its score to -inf). mAP needs the full ranking:
with --map-queries Q the first Q queries are also fully sorted (torch.sort) and the time of that part
is reported and extrapolated to all N queries (labelled as such).
"""
import argparse
import resource
import time

import h5py
import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--block", type=int, default=1024)
ap.add_argument("--k", type=int, default=32)
ap.add_argument("--map-queries", type=int, default=0)
a = ap.parse_args()
torch.set_num_threads(a.threads)
with h5py.File(a.file, "r") as f:
    E = torch.from_numpy(f["embeddings"][...])
    lab = torch.from_numpy(f["labels"][...].astype(np.int64))
N, D = E.shape
Ks = [1, 4, 16, 32]
hits = torch.zeros(len(Ks), dtype=torch.int64)
t0 = time.perf_counter()
c0 = time.process_time()
for q0 in range(0, N, a.block):
    q1 = min(N, q0 + a.block)
    S = E[q0:q1] @ E.T
    S[torch.arange(q1 - q0), torch.arange(q0, q1)] = -float("inf")
    _, idx = S.topk(a.k, dim=1)
    rel = lab[idx] == lab[q0:q1, None]
    for i, K in enumerate(Ks):
        hits[i] += rel[:, :K].any(dim=1).sum()
t1 = time.perf_counter()
c1 = time.process_time()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch mm+topk: N={N} D={D} threads={a.threads} block={a.block}: time {t1 - t0:.2f} s, CPU {c1 - c0:.2f} s, peak RSS {rss:.0f} MiB")
print("torch mm+topk: " + " ".join(f"R@{K} {h / N:.4f}" for K, h in zip(Ks, hits.tolist())))
if a.map_queries:
    Q = a.map_queries
    t2 = time.perf_counter()
    aps = []
    for q0 in range(0, Q, a.block):
        q1 = min(Q, q0 + a.block)
        S = E[q0:q1] @ E.T
        S[torch.arange(q1 - q0), torch.arange(q0, q1)] = -float("inf")
        order = S.sort(dim=1, descending=True, stable=True).indices[:, : N - 1]
        rel = (lab[order] == lab[q0:q1, None]).double()
        cum = rel.cumsum(1)
        ranks = torch.arange(1, N, dtype=torch.float64)
        R = rel.sum(1)
        aps.append(((cum / ranks) * rel).sum(1) / R)
    t3 = time.perf_counter()
    print(f"torch mm+sort (mAP, full ranking): {Q} queries in {t3 - t2:.2f} s -> extrapolated to N: "
          f"{(t3 - t2) * N / Q:.1f} s; mAP over those queries {torch.cat(aps).mean():.4f}")
