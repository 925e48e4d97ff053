#!/usr/bin/python3
# bench_step_torch.py ARCH B SIZE CHANNELS THREADS [STEPS] — the peer of bench_step.c in PyTorch (Debian
# torch 1.13, CPU): the same model as bench_step.c --arch ARCH (smallcnn as in src/nn/smallcnn.c, or
# torchvision resnet18/34/50/101 with conv1 taking CHANNELS inputs, as src/nn/resnet.c) with the
# embedding head (global average pool -> Linear to 128 -> L2 normalise), BatchNorm frozen (eval mode,
# affine trainable), Smooth-AP as in the official code (the B x B x B sigmoid tensor, tau 0.01, query
# counted as its own positive), Adam lr 1e-4 with coupled weight decay 4e-4. Median step over STEPS
# steps after 2 warm-up steps.
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class SmallCNN(nn.Module):
    def __init__(self, c, w=32):
        super().__init__()
        def unit(i, o):
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
        self.f = nn.Sequential(*unit(c, w), nn.MaxPool2d(2), *unit(w, 2 * w), nn.MaxPool2d(2), *unit(2 * w, 4 * w))
        self.fc = nn.Linear(4 * w, 128)

    def forward(self, x):
        return F.normalize(self.fc(self.f(x).mean((2, 3))), dim=1)


RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")


class ResNetEmb(nn.Module):
    def __init__(self, arch, c, d=128):
        super().__init__()
        self.r = getattr(torchvision.models, arch)()
        if c != 3:  # src/nn/resnet.c: the stem takes the data's channel count
            self.r.conv1 = nn.Conv2d(c, 64, 7, stride=2, padding=3, bias=False)
        self.r.fc = nn.Linear(self.r.fc.in_features, d)  # 512 (18/34) or 2048 (50/101) -> D

    def forward(self, x):
        return F.normalize(self.r(x), dim=1)


def smooth_ap(E, labels, tau=0.01):
    B = E.shape[0]
    s = E @ E.t()
    d = s.unsqueeze(1) - s.unsqueeze(2)                      # [q, i, j] = s_qj - s_qi
    g = torch.sigmoid((d / tau).clamp(-50, 50)) * (1 - torch.eye(B)).unsqueeze(0)  # j != i
    pos = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()  # [q, j]
    r_all = 1 + g.sum(2)
    r_pos = 1 + (g * pos.unsqueeze(1)).sum(2)
    ap = ((r_pos / r_all) * pos).sum(1) / pos.sum(1)
    return 1 - ap.mean()


def main():
    arch, B, S, C, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    steps = int(sys.argv[6]) if len(sys.argv) > 6 else 10
    torch.set_num_threads(T)
    torch.manual_seed(0)
    if arch != "smallcnn" and arch not in RESNETS:
        print(f"bench_step_torch.py: no PyTorch peer for arch '{arch}' (smallcnn, {', '.join(RESNETS)})",
              file=sys.stderr)
        sys.exit(2)
    model = SmallCNN(C) if arch == "smallcnn" else ResNetEmb(arch, C)
    model.eval()  # frozen BatchNorm: running statistics, affine still trained
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=4e-4)
    x = torch.randn(B, C, S, S)
    labels = torch.arange(B) // 4
    times = []
    for s in range(steps + 2):
        t0 = time.perf_counter()
        loss = smooth_ap(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[2:])
    print(f"| torch {torch.__version__} | {arch} | {B} | {C}x{S}x{S} | {T} | {med * 1e3:.1f} | {min(times[2:]) * 1e3:.1f} "
          f"| {B / med:.0f} |   (loss {loss.item():.4f})")


if __name__ == "__main__":
    main()
