"""Independent recomputation of the evaluator's per-query results from the files it writes.

usage: ref_metrics.py embeddings_<split>.h5 per_query_<split>.h5
Reads /embeddings, /labels, /indices; scores all pairs in float64 with numpy, ranks each gallery by
(score desc, index asc) with a full lexsort (the tie rule of src/eval/knn.h), self excluded, and checks
first positive rank, number of positives and neighbour lists exactly, AP and AP@R within 1e-12.
The test data lie on a 2^-6 grid, so float32 and float64 scores are equal (see test_eval_io.c).
"""
import sys

import h5py
import numpy as np

emb_path, pq_path = sys.argv[1], sys.argv[2]
with h5py.File(emb_path, "r") as f:
    E = f["embeddings"][...].astype(np.float64)
    lab = f["labels"][...]
    idx = f["indices"][...]
    assert f["embeddings"].dtype == np.float32 and idx.dtype == np.int64
with h5py.File(pq_path, "r") as f:
    ap, apr = f["ap"][...], f["ap_at_r"][...]
    first, npos = f["first_positive_rank"][...], f["num_positives"][...]
    topk = f["topk"][...]
    assert (f["labels"][...] == lab).all()
N = E.shape[0]
assert (idx == np.arange(N) * 3 + 11).all(), "global ids written as given"
S = E @ E.T
err = 0.0
for q in range(N):
    g = np.array([j for j in range(N) if j != q])
    order = g[np.lexsort((g, -S[q, g]))]
    rel = lab[order] == lab[q]
    R = int(rel.sum())
    assert npos[q] == R, (q, npos[q], R)
    assert (topk[q] == order[: topk.shape[1]]).all(), (q, topk[q], order[:8])
    if R == 0:
        assert first[q] == 0 and ap[q] == 0
        continue
    ranks = np.nonzero(rel)[0] + 1
    prec = np.arange(1, R + 1) / ranks
    assert first[q] == ranks[0], (q, first[q], ranks[0])
    err = max(err, abs(ap[q] - prec.mean()), abs(apr[q] - prec[ranks <= R].sum() / R))
assert err <= 1e-12, err
print(f"ref_metrics: {N} queries agree; max |AP diff| {err:.3g}")
