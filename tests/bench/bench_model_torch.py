#!/usr/bin/python3
"""PyTorch peer of bench_model.c: one training forward + backward (no loss, no optimizer; dE random) of
torchvision's resnet18/34/50/101 as --arch names it (fc -> Linear(512 or 2048, D), conv1 taking
--channels inputs as src/nn/resnet.c) or the quickstart small CNN, then F.normalize, batch 64.
--step 1: the full step: the official Smooth-AP code (float32, tau 0.01, 16 classes x 4), backward,
torch.optim.Adam (lr 1e-5, weight_decay 4e-4, head lr x 2).
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
RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")
p.add_argument("--arch", default="resnet18", choices=("smallcnn",) + RESNETS)  # anything else: refused
p.add_argument("--size", type=int, default=112)
p.add_argument("--channels", type=int, default=3)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--dim", type=int, default=128)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--bn", default="frozen")
p.add_argument("--width", type=int, default=32)
p.add_argument("--step", type=int, default=0)
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
    if a.channels != 3:  # src/nn/resnet.c: the stem takes the data's channel count
        m.conv1 = nn.Conv2d(a.channels, 64, 7, stride=2, padding=3, bias=False)
    m.fc = nn.Linear(m.fc.in_features, a.dim)
m.train(a.bn != "frozen")


def sigmoid(tensor, temp=1.0):  # the official Smooth-AP code (Brown et al., ECCV 2020), unchanged
    exponent = -tensor / temp
    exponent = torch.clamp(exponent, min=-50, max=50)
    return 1.0 / (1.0 + torch.exp(exponent))


def smooth_ap(preds, anneal, batch_size, num_id, feat_dims):
    mask = 1.0 - torch.eye(batch_size)
    mask = mask.unsqueeze(dim=0).repeat(batch_size, 1, 1)
    sim_all = torch.mm(preds, preds.t())
    sim_all_repeat = sim_all.unsqueeze(dim=1).repeat(1, batch_size, 1)
    sim_diff = sim_all_repeat - sim_all_repeat.permute(0, 2, 1)
    sim_sg = sigmoid(sim_diff, temp=anneal) * mask
    sim_all_rk = torch.sum(sim_sg, dim=-1) + 1
    g = batch_size // num_id
    xs = preds.view(num_id, g, feat_dims)
    pos_mask = 1.0 - torch.eye(g)
    pos_mask = pos_mask.unsqueeze(dim=0).unsqueeze(dim=0).repeat(num_id, g, 1, 1)
    sim_pos = torch.bmm(xs, xs.permute(0, 2, 1))
    sim_pos_repeat = sim_pos.unsqueeze(dim=2).repeat(1, 1, g, 1)
    sim_pos_diff = sim_pos_repeat - sim_pos_repeat.permute(0, 1, 3, 2)
    sim_pos_sg = sigmoid(sim_pos_diff, temp=anneal) * pos_mask
    sim_pos_rk = torch.sum(sim_pos_sg, dim=-1) + 1
    ap = torch.zeros(1)
    for ind in range(num_id):
        pos_divide = torch.sum(sim_pos_rk[ind] / (sim_all_rk[(ind * g):((ind + 1) * g), (ind * g):((ind + 1) * g)]))
        ap = ap + ((pos_divide / g) / batch_size)
    return 1 - ap


head = m.fc if hasattr(m, "fc") else m[-1]
head_ids = {id(p) for p in head.parameters()}
opt = torch.optim.Adam([{"params": [p for p in m.parameters() if id(p) not in head_ids]},
                        {"params": list(head.parameters()), "lr": 2e-5}], lr=1e-5, weight_decay=4e-4)
x = torch.randn(a.batch, a.channels, a.size, a.size)
dE = torch.randn(a.batch, a.dim) * 0.01
tf, tb = [], []
for it in range(a.reps + 1):
    m.zero_grad(set_to_none=False)
    t0 = time.perf_counter()
    E = F.normalize(m(x), dim=1)
    if a.step:
        loss = smooth_ap(E, 0.01, a.batch, a.batch // 4, a.dim)
    t1 = time.perf_counter()
    if a.step:
        loss.backward()
        opt.step()
    else:
        E.backward(dE)
    t2 = time.perf_counter()
    if it:
        tf.append(t1 - t0)
        tb.append(t2 - t1)
ts = sorted(f + b for f, b in zip(tf, tb))
tf.sort()
tb.sort()
k = a.reps // 2
print(f"torch {torch.__version__} {a.arch} {a.channels}x{a.size}x{a.size} batch {a.batch} bn {a.bn}"
      f"{' full step' if a.step else ''}{f' (last loss {loss.item():.5f})' if a.step else ''} threads "
      f"{torch.get_num_threads()}: median fwd {1e3 * tf[k]:.1f} ms, bwd {1e3 * tb[k]:.1f} ms, step "
      f"{1e3 * ts[k]:.1f} ms (min {1e3 * ts[0]:.1f}) -> {a.batch / ts[k]:.0f} img/s")
