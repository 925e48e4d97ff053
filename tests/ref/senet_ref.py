#!/usr/bin/python3
"""Plain-PyTorch SE-ResNet-50 reference (Debian python3-torch, CPU, float32) for tests/nn/test_senet.c.

The VGGFace2 paper's SENet-50 written from the paper (Hu et al. 2018) without torchvision: ResNet-50
bottlenecks with the stride on the FIRST 1x1 conv of a downsampling block (Caffe), a squeeze-excitation
module (global average pool -> 1x1 conv C->C/16 with bias -> ReLU -> 1x1 conv C/16->C with bias ->
sigmoid -> channel scale) before the residual add. The stem max pool is Caffe's: 3x3/2, pad 0, ceil_mode.
Modules carry the released model's Caffe layer names as its PyTorch port spells them (conv2_1_1x1_reduce,
conv2_1_1x1_reduce_bn, conv2_1_1x1_down, ...); the stem is written with Caffe's slashes
(conv1/7x7_s2, conv1/7x7_s2/bn) to exercise both spellings of the import map (src/nn/senet_names.c).

Writes into OUTDIR:
  senet50_caffe.safetensors  the state dict under those names (classifier = Linear(2048, D))
  senet.h5                   x [2, 3, 64, 64], E = normalize(model(x)) in eval mode (frozen BN), dE, and
                             grad_eval/<senet50 name> of sum(dE * E) for a few tensors
Random init; BN statistics and affine parameters randomised so that frozen BN is not the identity.
Usage: senet_ref.py OUTDIR
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(3)
torch.set_num_threads(2)
D = 32


class SEResNet50(nn.Module):
    def __init__(self, D):
        super().__init__()
        self.blocks = []  # (stage, block, inplanes, planes, stride)
        self.add_module("conv1_7x7_s2", nn.Conv2d(3, 64, 7, 2, 3, bias=False))
        self.add_module("conv1_7x7_s2_bn", nn.BatchNorm2d(64))
        inplanes = 64
        for s, n in zip(range(2, 6), (3, 4, 6, 3)):
            planes = 64 << (s - 2)
            for j in range(1, n + 1):
                stride = 2 if (j == 1 and s > 2) else 1
                p = f"conv{s}_{j}_"
                out = 4 * planes
                self.add_module(p + "1x1_reduce", nn.Conv2d(inplanes, planes, 1, stride, bias=False))
                self.add_module(p + "1x1_reduce_bn", nn.BatchNorm2d(planes))
                self.add_module(p + "3x3", nn.Conv2d(planes, planes, 3, 1, 1, bias=False))
                self.add_module(p + "3x3_bn", nn.BatchNorm2d(planes))
                self.add_module(p + "1x1_increase", nn.Conv2d(planes, out, 1, bias=False))
                self.add_module(p + "1x1_increase_bn", nn.BatchNorm2d(out))
                self.add_module(p + "1x1_down", nn.Conv2d(out, out // 16, 1, bias=True))
                self.add_module(p + "1x1_up", nn.Conv2d(out // 16, out, 1, bias=True))
                if stride != 1 or inplanes != out:
                    self.add_module(p + "1x1_proj", nn.Conv2d(inplanes, out, 1, stride, bias=False))
                    self.add_module(p + "1x1_proj_bn", nn.BatchNorm2d(out))
                self.blocks.append(p)
                inplanes = out
        self.classifier = nn.Linear(2048, D)

    def forward(self, x):
        m = self._modules
        x = F.relu(m["conv1_7x7_s2_bn"](m["conv1_7x7_s2"](x)))
        x = F.max_pool2d(x, 3, 2, 0, ceil_mode=True)
        for p in self.blocks:
            u = F.relu(m[p + "1x1_reduce_bn"](m[p + "1x1_reduce"](x)))
            u = F.relu(m[p + "3x3_bn"](m[p + "3x3"](u)))
            u = m[p + "1x1_increase_bn"](m[p + "1x1_increase"](u))
            s = torch.sigmoid(m[p + "1x1_up"](F.relu(m[p + "1x1_down"](F.adaptive_avg_pool2d(u, 1)))))
            idn = m[p + "1x1_proj_bn"](m[p + "1x1_proj"](x)) if (p + "1x1_proj") in m else x
            x = F.relu(u * s + idn)
        return self.classifier(x.mean(dim=(2, 3)))


def save_safetensors(sd, path):
    header, blobs, off = {}, [], 0
    for name, t in sd.items():
        a = t.detach().cpu().contiguous().numpy()
        dt = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


m = SEResNet50(D)
with torch.no_grad():
    nn.init.normal_(m.classifier.weight, 0, 0.05)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.weight.uniform_(0.5, 1.5)
            mod.bias.normal_(0, 0.1)
            mod.running_mean.normal_(0, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
        if isinstance(mod, nn.Conv2d) and mod.bias is not None:  # SE FCs: gates away from 0.5
            mod.bias.normal_(0, 0.5)
sd = {k.replace("conv1_7x7_s2_bn", "conv1/7x7_s2/bn").replace("conv1_7x7_s2.", "conv1/7x7_s2."): v
      for k, v in m.state_dict().items()}
save_safetensors(sd, os.path.join(OUT, "senet50_caffe.safetensors"))

GRADS = {"conv1.weight": "conv1_7x7_s2.weight", "bn1.bias": "conv1_7x7_s2_bn.bias",
         "layer1.0.se.fc1.weight": "conv2_1_1x1_down.weight", "layer1.0.se.fc2.bias": "conv2_1_1x1_up.bias",
         "layer2.0.conv1.weight": "conv3_1_1x1_reduce.weight",
         "layer2.0.downsample.0.weight": "conv3_1_1x1_proj.weight",
         "layer3.5.bn3.weight": "conv4_6_1x1_increase_bn.weight", "layer4.2.se.fc2.weight": "conv5_3_1x1_up.weight",
         "fc.weight": "classifier.weight"}
m.eval()
x = torch.randn(2, 3, 64, 64)
E = F.normalize(m(x), dim=1)
dE = torch.randn_like(E)
(E * dE).sum().backward()
params = dict(m.named_parameters())
with h5py.File(os.path.join(OUT, "senet.h5"), "w") as f:
    for k, v in (("x", x), ("E", E), ("dE", dE)):
        f.create_dataset(k, data=v.detach().numpy().astype(np.float32))
    for ours, theirs in GRADS.items():
        f.create_dataset("grad_eval/" + ours, data=params[theirs].grad.numpy().astype(np.float32))
print("senet_ref: fixtures written to", OUT)
