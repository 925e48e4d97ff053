#!/usr/bin/env python3
"""The table of tests/bench/bench_scaling.sh: phases per step and agreement with the first run (W = 1).

Usage: bench_scaling_table.py RUN_DIR ...   (the first is the reference; each holds metrics.jsonl,
config.yaml and checkpoints/latest.h5). Needs numpy and h5py (Debian: /usr/bin/python3).
"""
import json
import re
import sys

import h5py
import numpy as np

PHASES = ["data", "forward", "exchange", "loss", "backward", "allreduce", "optim"]
LABELS = ["data", "fwd", "xchg", "loss", "bwd", "ar", "opt"]


def load(run):
    train, recall = [], None
    with open(f"{run}/metrics.jsonl") as f:
        for line in f:
            o = json.loads(line)
            if o["type"] == "train":
                train.append(o)
            elif o["type"] == "eval":
                recall = o.get("recall@1")
    with open(f"{run}/config.yaml") as f:
        world = int(re.search(r"world size (\d+)", f.readline()).group(1))
    with h5py.File(f"{run}/checkpoints/latest.h5", "r") as h:
        params = {k: np.asarray(v[()], dtype=np.float64) for k, v in h["params"].items()}
    return {"train": train, "recall": recall, "world": world, "params": params}


def main(runs):
    data = [load(r) for r in runs]
    ref = data[0]
    head = ["W", "step ms"] + [f"{l} %" for l in LABELS]
    head += ["comm %", "max abs dloss steps 1-5", "max abs dloss all steps", "max abs dw", "worst rel L2 dw", "R@1"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for d in data:
        steady = d["train"][1:] or d["train"]  # step 1 includes the loader's start
        per = {p: np.mean([o[f"t_{p}_s"] for o in steady]) for p in PHASES}
        wall = np.mean([o["data_s"] + o["step_s"] for o in steady])  # one step per line
        share = {p: 100 * per[p] / wall for p in PHASES}
        comm = share["exchange"] + share["allreduce"]
        l_ref = np.array([o["loss"] for o in ref["train"]])
        l = np.array([o["loss"] for o in d["train"]])
        same = len(l) == len(l_ref)
        dloss = np.max(np.abs(l - l_ref)) if same else float("nan")
        dloss5 = np.max(np.abs(l[:5] - l_ref[:5])) if same else float("nan")
        dw, rel = 0.0, 0.0
        for k, w in ref["params"].items():
            x = d["params"][k]
            dw = max(dw, float(np.max(np.abs(x - w))))
            nw = float(np.linalg.norm(w))
            rel = max(rel, float(np.linalg.norm(x - w)) / (nw if nw > 0 else 1.0))
        row = [str(d["world"]), f"{1000 * wall:.1f}"] + [f"{share[p]:.1f}" for p in PHASES]
        row += [f"{comm:.1f}", f"{dloss5:.1e}", f"{dloss:.1e}", f"{dw:.1e}", f"{rel:.1e}", f"{d['recall']:.4f}"]
        print("| " + " | ".join(row) + " |")
    nw = sum(v.size for v in ref["params"].values())
    wmax = max(float(np.max(np.abs(v))) for v in ref["params"].values())
    print(f"\n{len(ref['train'])} steps; dloss: loss per step vs W={ref['world']} (metrics.jsonl, 9 digits); dw: final "
          f"weights vs W={ref['world']} ({nw} weights, max |w| {wmax:.3g}; rel L2: per tensor ||dw|| / ||w||); "
          f"phases: rank 0, {'steps 2..' + str(len(ref['train'])) if len(ref['train']) > 1 else 'step 1'}, shares of "
          f"data_s + step_s; comm = xchg + ar.")


if __name__ == "__main__":
    main(sys.argv[1:])
