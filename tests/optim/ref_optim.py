#!/usr/bin/python3
# ref_optim.py OUT.h5 — reference trajectories of torch.optim (Debian torch 1.13, float32, CPU) for
# tests/optim/test_optim.c. Five tensors with the flags of an AptParamStore (body/head, decay/no-decay,
# frozen), random initial weights and a fixed sequence of random gradients; each case runs T steps with
# two parameter groups (head lr x fc_lr_mul; no-decay tensors in groups with weight_decay=0) and records
# every tensor after every step.
import sys

import h5py
import numpy as np
import torch

T = 10
# name, shape, decay, head, trainable
PARAMS = [
    ("body.weight", (5, 7), 1, 0, 1),
    ("body.bias", (7,), 0, 0, 1),
    ("head.weight", (4, 5), 1, 1, 1),
    ("head.bias", (4,), 0, 1, 1),
    ("bn.weight", (3,), 1, 0, 0),
]
# name, optimizer, lr, weight_decay, momentum, nesterov, fc_lr_mul, lr_decay_every (0 = constant)
CASES = [
    ("sgd", "sgd", 0.1, 1e-3, 0.0, 0, 10.0, 0),
    ("sgd_momentum", "sgd", 0.05, 5e-4, 0.9, 0, 10.0, 0),
    ("sgd_nesterov", "sgd", 0.05, 5e-4, 0.9, 1, 10.0, 0),
    ("adam", "adam", 1e-3, 4e-4, 0.0, 0, 2.0, 0),
    ("adam_bigwd", "adam", 1e-2, 0.5, 0.0, 0, 2.0, 4),
    ("adamw", "adamw", 1e-3, 0.05, 0.0, 0, 2.0, 4),
]
BETAS, EPS = (0.9, 0.999), 1e-8


def main(out):
    rng = np.random.default_rng(1234)
    w0 = [rng.standard_normal(s).astype(np.float32) for _, s, *_ in PARAMS]
    grads = [[(rng.standard_normal(s) * 0.1).astype(np.float32) for _, s, *_ in PARAMS] for _ in range(T)]
    with h5py.File(out, "w") as f:
        f.attrs["T"] = T
        for i, (name, shape, decay, head, trainable) in enumerate(PARAMS):
            g = f.create_group(f"param{i}")
            g.attrs["name"] = name
            g.attrs["decay"], g.attrs["head"], g.attrs["trainable"] = decay, head, trainable
            g["w0"] = w0[i]
            g["grads"] = np.stack([grads[t][i] for t in range(T)])
        f.attrs["ncases"] = len(CASES)
        for c, (cname, opt, lr, wd, mom, nest, mul, every) in enumerate(CASES):
            ps = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in w0]
            groups = []
            for head in (0, 1):
                for decay in (0, 1):
                    sel = [p for p, (_, _, d, h, tr) in zip(ps, PARAMS) if tr and d == decay and h == head]
                    if sel:
                        groups.append({"params": sel, "lr": lr * (mul if head else 1.0),
                                       "weight_decay": wd if decay else 0.0, "mul": mul if head else 1.0})
            if opt == "sgd":
                o = torch.optim.SGD(groups, lr=lr, momentum=mom, nesterov=bool(nest))
            elif opt == "adam":
                o = torch.optim.Adam(groups, lr=lr, betas=BETAS, eps=EPS)
            else:
                o = torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=EPS)
            lrs = []
            traj = [np.zeros((T,) + w.shape, np.float32) for w in w0]
            for t in range(T):
                base = lr * (0.5 ** (t // every) if every else 1.0)
                for gr in o.param_groups:
                    gr["lr"] = base * gr["mul"]
                lrs.append(base)
                for p, g in zip(ps, grads[t]):
                    p.grad = torch.from_numpy(g.copy())
                o.step()
                for i, p in enumerate(ps):
                    traj[i][t] = p.detach().numpy()
            g = f.create_group(f"case{c}")
            g.attrs["name"] = cname
            g.attrs["optim"] = opt
            g.attrs["weight_decay"], g.attrs["momentum"], g.attrs["nesterov"] = wd, mom, nest
            g.attrs["fc_lr_mul"] = mul
            g["lr"] = np.array(lrs, np.float64)
            for i in range(len(PARAMS)):
                g[f"traj{i}"] = traj[i]


if __name__ == "__main__":
    main(sys.argv[1])
