"""faiss peer of bench_eval: exact IndexFlatIP search (k + 1 neighbours, self removed) over the same
embeddings. Needs Debian's python3-faiss (apt-get install python3-faiss; benchmark only).

usage: /usr/bin/python3 bench_eval_faiss.py embeddings_bench.h5 [--threads T] [--k K]
"""
import argparse
import resource
import time

import faiss
import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--k", type=int, default=32)
a = ap.parse_args()
faiss.omp_set_num_threads(a.threads)
with h5py.File(a.file, "r") as f:
    E = np.ascontiguousarray(f["embeddings"][...])
    lab = f["labels"][...]
N, D = E.shape
t0 = time.perf_counter()
c0 = time.process_time()
index = faiss.IndexFlatIP(D)
index.add(E)
_, I = index.search(E, a.k + 1)
t1 = time.perf_counter()
c1 = time.process_time()
# drop self (or the last neighbour when self was not returned, e.g. after ties)
nb = np.empty((N, a.k), dtype=np.int64)
for q in range(N):
    row = I[q][I[q] != q]
    nb[q] = row[: a.k]
rel = lab[nb] == lab[:, None]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"faiss IndexFlatIP: N={N} D={D} threads={a.threads}: time {t1 - t0:.2f} s, CPU {c1 - c0:.2f} s (add + search), peak RSS {rss:.0f} MiB")
print("faiss IndexFlatIP: " + " ".join(f"R@{K} {rel[:, :K].any(1).mean():.4f}" for K in [1, 4, 16, 32]))
