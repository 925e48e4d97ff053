#!/usr/bin/python3
"""PyTorch references for the nn layers and the ResNet models (Debian python3-torch 1.13 /
python3-torchvision 0.14, CPU, float32 like the C side). Run at test time by tests/nn/test_nn_ref.c.

Writes into OUTDIR:
  layers.h5            one group per layer case: inputs, parameters, the upstream gradient `dy`, and
                       torch's outputs and gradients (autograd), float32
  resnet18.safetensors torchvision resnet18 state_dict (fc replaced by Linear(512, D)), written by hand
  resnet50.safetensors (8-byte LE header length + JSON + raw data; num_batches_tracked kept as I64)
  resnet.h5            per model: input x, embeddings E = normalize(model(x)) in eval mode (frozen BN),
                       and for resnet18 also dE, the parameter gradients of sum(dE * E) for a few named
                       tensors in eval mode and in train mode (batch statistics), train-mode E and the
                       running statistics after the train-mode forward.
Random init (no pretrained weights offline); BN statistics and affine parameters are randomised so that
frozen BN is not the identity. Usage: nn_ref.py OUTDIR
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(2)


def t2n(t):
    return t.detach().cpu().contiguous().numpy().astype(np.float32)


def put(g, **arrays):
    for k, v in arrays.items():
        g.create_dataset(k, data=t2n(v) if torch.is_tensor(v) else np.asarray(v))


# ---- layers -------------------------------------------------------------------------------------
with h5py.File(os.path.join(OUT, "layers.h5"), "w") as f:
    # conv2d: (N, C, H, W, K, k, stride, pad, bias); odd sizes on purpose
    convs = [(3, 5, 11, 9, 7, 3, 1, 1, True), (2, 6, 13, 13, 5, 3, 2, 1, False), (2, 7, 9, 11, 9, 1, 2, 0, False),
             (2, 3, 19, 17, 6, 7, 2, 3, False)]
    for i, (N, C, H, W, K, k, s, p, bias) in enumerate(convs):
        conv = torch.nn.Conv2d(C, K, k, stride=s, padding=p, bias=bias)
        x = torch.randn(N, C, H, W, requires_grad=True)
        y = conv(x)
        dy = torch.randn_like(y)
        y.backward(dy)
        g = f.create_group(f"conv{i}")
        g.attrs["shape"] = [N, C, H, W, K, k, s, p, int(bias)]
        put(g, x=x, w=conv.weight, y=y, dy=dy, dx=x.grad, dw=conv.weight.grad)
        if bias:
            put(g, b=conv.bias, db=conv.bias.grad)
    # batchnorm2d: train mode (batch statistics, running-stat update) and eval mode (frozen)
    for mode in ("train", "eval"):
        N, C, H, W = 3, 7, 5, 3
        bn = torch.nn.BatchNorm2d(C)
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.3)
            bn.running_mean.normal_(0, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
        rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
        bn.train(mode == "train")
        x = (torch.randn(N, C, H, W) * 1.7 + 0.4).requires_grad_(True)
        y = bn(x)
        dy = torch.randn_like(y)
        y.backward(dy)
        g = f.create_group(f"bn_{mode}")
        g.attrs["shape"] = [N, C, H, W]
        put(g, x=x, gamma=bn.weight, beta=bn.bias, rm0=rm0, rv0=rv0, rm=bn.running_mean, rv=bn.running_var, y=y,
            dy=dy, dx=x.grad, dgamma=bn.weight.grad, dbeta=bn.bias.grad)
    # max pool (ResNet stem 3/2/1 and the small CNN's 2/2/0)
    for i, (k, s, p) in enumerate([(3, 2, 1), (2, 2, 0)]):
        x = torch.randn(2, 3, 11, 9, requires_grad=True)
        y = F.max_pool2d(x, k, s, p)
        dy = torch.randn_like(y)
        y.backward(dy)
        g = f.create_group(f"maxpool{i}")
        g.attrs["shape"] = [2, 3, 11, 9, k, s, p]
        put(g, x=x, y=y, dy=dy, dx=x.grad)
    # linear
    lin = torch.nn.Linear(13, 7)
    x = torch.randn(5, 13, requires_grad=True)
    y = lin(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    g = f.create_group("linear")
    put(g, x=x, w=lin.weight, b=lin.bias, y=y, dy=dy, dx=x.grad, dw=lin.weight.grad, db=lin.bias.grad)
    # head: global average pool -> linear -> F.normalize
    x = torch.randn(3, 11, 5, 3, requires_grad=True)
    lin = torch.nn.Linear(11, 6)
    y = F.normalize(lin(x.mean(dim=(2, 3))), dim=1)
    dy = torch.randn_like(y)
    y.backward(dy)
    g = f.create_group("head")
    put(g, x=x, w=lin.weight, b=lin.bias, y=y, dy=dy, dx=x.grad, dw=lin.weight.grad, db=lin.bias.grad)


# ---- ResNets --------------------------------------------------------------------------------------
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


def make(arch, D):
    torch.manual_seed(1)
    m = getattr(torchvision.models, arch)()
    m.fc = torch.nn.Linear(m.fc.in_features, D)
    with torch.no_grad():
        torch.nn.init.normal_(m.fc.weight, 0, 0.05)
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0, 0.1)
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return m


GRAD_NAMES = ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
              "layer2.0.downsample.1.weight", "layer3.1.bn2.bias", "layer4.1.conv2.weight", "fc.weight", "fc.bias"]
GRAD_NAMES_50 = ["conv1.weight", "layer1.0.conv3.weight", "layer1.0.downsample.0.weight", "layer2.0.conv2.weight",
                 "layer3.5.bn3.weight", "layer4.2.conv1.weight", "fc.weight"]
D = 32
with h5py.File(os.path.join(OUT, "resnet.h5"), "w") as f:
    for arch in ("resnet18", "resnet50"):
        m = make(arch, D)
        save_safetensors(m.state_dict(), os.path.join(OUT, f"{arch}.safetensors"))
        x = torch.randn(2, 3, 64, 64)
        g = f.create_group(arch)
        m.eval()
        E = F.normalize(m(x), dim=1)
        put(g, x=x, E=E)
        if arch != "resnet18":  # resnet50: eval-mode (frozen BN) gradients of a few tensors
            dE = torch.randn_like(E)
            put(g, dE=dE)
            (E * dE).sum().backward()
            params = dict(m.named_parameters())
            for n in GRAD_NAMES_50:
                g.create_dataset("grad_eval/" + n, data=t2n(params[n].grad))
            continue
        dE = torch.randn_like(E)
        put(g, dE=dE)
        (E * dE).sum().backward()
        params = dict(m.named_parameters())
        for n in GRAD_NAMES:
            g.create_dataset("grad_eval/" + n, data=t2n(params[n].grad))
        m.zero_grad()
        m.train()
        Et = F.normalize(m(x), dim=1)
        (Et * dE).sum().backward()
        put(g, E_train=Et)
        for n in GRAD_NAMES:
            g.create_dataset("grad_train/" + n, data=t2n(params[n].grad))
        sd = m.state_dict()
        for n in ("bn1.running_mean", "bn1.running_var", "layer4.1.bn2.running_var"):
            g.create_dataset("running/" + n, data=t2n(sd[n]))
print("nn_ref: fixtures written to", OUT)
