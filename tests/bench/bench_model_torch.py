#!/usr/bin/python3
"""PyTorch peer of bench_model.c: one training forward + backward (no loss, no optimizer; dE random) of
torchvision's resnet18 (fc -> Linear(512, D)) or the quickstart small CNN, then F.normalize, batch 64.
BN: frozen = eval-mode BN (as the official codes), local = train mode.
  /usr/bin/python3 tests/bench/bench_model_torch.py --arch resnet18 --size 112 --threads 2 [--bn frozen]
  /usr/bin/python3 tests/bench/bench_model_torch.py --arch smallcnn --size 28 --channels 1 --bn local
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

p = argparse.ArgumentParser()
p.add_argument("--arch", default="resnet18")
p.add_argument("--size", type=int, default=112)
p.add_argument("--channels", type=int, default=3)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--dim", type=int, default=128)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--bn", default="frozen")
p.add_argument("--width", type=int, default=32)
a = p.parse_args()
torch.set_num_threads(a.threads)


def small_cnn(c, w, d):  # src/nn/smallcnn.c
    def unit(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
    return nn.Sequential(*unit(c, w), nn.MaxPool2d(2), *unit(w, 2 * w), nn.MaxPool2d(2), *unit(2 * w, 4 * w),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, d))


if a.arch == "smallcnn":
    m = small_cnn(a.channels, a.width, a.dim)
else:
    m = getattr(torchvision.models, a.arch)()
    m.fc = nn.Linear(m.fc.in_features, a.dim)
m.train(a.bn != "frozen")
x = torch.randn(a.batch, a.channels, a.size, a.size)
dE = torch.randn(a.batch, a.dim) * 0.01
tf, tb = [], []
for it in range(a.reps + 1):
    m.zero_grad(set_to_none=False)
    t0 = time.perf_counter()
    E = F.normalize(m(x), dim=1)
    t1 = time.perf_counter()
    E.backward(dE)
    t2 = time.perf_counter()
    if it:
        tf.append(t1 - t0)
        tb.append(t2 - t1)
ts = sorted(f + b for f, b in zip(tf, tb))
tf.sort()
tb.sort()
k = a.reps // 2
print(f"torch {torch.__version__} {a.arch} {a.channels}x{a.size}x{a.size} batch {a.batch} bn {a.bn} threads "
      f"{torch.get_num_threads()}: median fwd {1e3 * tf[k]:.1f} ms, bwd {1e3 * tb[k]:.1f} ms, step "
      f"{1e3 * ts[k]:.1f} ms (min {1e3 * ts[0]:.1f}) -> {a.batch / ts[k]:.0f} img/s")
