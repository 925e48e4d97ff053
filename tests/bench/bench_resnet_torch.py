#!/usr/bin/env python3
"""PyTorch peer of bench_resnet_cuda.c: ResNet training-step throughput on the GPU host's own PyTorch.

    python3 tests/bench/bench_resnet_torch.py [--arch resnet50] [--batch 128] [--size 224] [--steps 20] [--warmup 5]
                                              [--modes eager,compile] [--dim 128]
                                              [--precision bf16|fp32] [--no-step] [--profile]

Same work as aptrain's benchmark (bench_resnet_cuda): torchvision's --arch (resnet18/34/50/101, the same
names as bench_resnet_cuda --arch; anything else is refused; random init; for resnet50 the same
architecture is defined below when torchvision is not installed, other archs then refuse) with the
embedding head of aptrain and the official Smooth-AP code (global average pool, fc -> D, L2 normalise;
D = 128, aptrain's model.embed_dim default, which bench_resnet_cuda uses), frozen BatchNorm (eval-mode
statistics, trainable affine), Smooth-AP with tau 0.01 on batches of B/4 classes x m = 4 (any --batch
divisible by 4: 128 and 256 in tests/gpu/run.sh), SGD with momentum 0.9 (lr 1e-3, no weight decay),
random inputs already on the GPU, cudnn.benchmark on.
Precision bf16 (default): AMP autocast bf16, channels_last. Precision fp32 (the peer of
`bench_resnet_cuda --fp32`): no autocast, NCHW, TF32 off (torch.backends.cudnn.allow_tf32 and
torch.backends.cuda.matmul.allow_tf32 False); the row states the TF32 settings either way.
An SGD step is included unless --no-step (aptrain's figure has no optimizer step).
Modes: eager, and torch.compile (default mode) of the model. Prints one markdown row per mode:
images/s = batch / median step time over --steps timed steps after --warmup (compile: the warm-up
includes compilation). --profile: after the timed steps of each mode, 3 more steps under
torch.profiler (CUDA activity only) and a markdown table of the 15 CUDA kernels with the most total
device time (per step, and their share of all kernel time), to set beside aptrain's own per-op profile.
Needs a CUDA device (exit 77 otherwise).
"""
import argparse
import statistics
import sys
import time


def smooth_ap(E, labels, tau=0.01):
    """Smooth-AP, official-code semantics (include_self): O(B * B * B) memory here is fine at B = 128."""
    S = E @ E.t()                                            # [B, B]
    same = labels[:, None] == labels[None, :]                # [B, B]
    D = S[:, None, :] - S[:, :, None]                        # D[q, i, j] = s_qj - s_qi
    G = torch.sigmoid((D / tau).clamp(-50, 50))
    B = E.shape[0]
    eye = torch.eye(B, device=E.device, dtype=torch.bool)
    G = G.masked_fill(eye[None, :, :], 0.0)                  # j != i
    r_all = 1 + G.sum(-1)                                    # [q, i]
    r_pos = 1 + (G * same[:, None, :]).sum(-1)
    ap = ((r_pos / r_all) * same).sum(-1) / same.sum(-1)
    return 1 - ap.mean()


def resnet50_local(dim):
    """torchvision's resnet50 (v1.5: stride on the 3x3 conv) with fc -> dim, for hosts without torchvision."""
    nn = torch.nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            return self.relu(self.bn3(self.conv3(y)) + idt)

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for k in range(blocks):
            layers.append(Bottleneck(cin, width, stride if k == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, dim)]
    return nn.Sequential(*layers)


def kernel_table(step, steps, title, top=15):
    """Top CUDA kernels by total device time over `steps` profiled steps, as a markdown table."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    rows = []
    for e in prof.key_averages():
        t = getattr(e, "self_device_time_total", None)  # torch >= 2.4; self_cuda_time_total before
        if t is None:
            t = getattr(e, "self_cuda_time_total", 0)
        if t > 0:
            rows.append((t, e.count, e.key))
    total = sum(r[0] for r in rows) or 1
    rows.sort(reverse=True)
    print(f"#### PyTorch top {top} CUDA kernels: {title} ({steps} profiled steps; "
          f"all kernels {total / 1e3 / steps:.2f} ms per step)")
    print("| kernel | calls/step | ms/step | share |")
    print("|---|---|---|---|")
    for t, n, name in rows[:top]:
        name = name.replace("|", "/")
        name = name if len(name) <= 110 else name[:107] + "..."
        print(f"| `{name}` | {n / steps:g} | {t / 1e3 / steps:.3f} | {100 * t / total:.1f}% |")
    print(flush=True)


def make_resnet(arch, dim):
    try:
        import torchvision
    except ImportError:
        if arch != "resnet50":
            print(f"bench_resnet_torch: --arch {arch} needs torchvision (only resnet50 is defined locally)",
                  file=sys.stderr)
            sys.exit(2)
        return resnet50_local(dim), "local resnet50 (no torchvision)"
    model = getattr(torchvision.models, arch)()
    model.fc = torch.nn.Linear(model.fc.in_features, dim)  # 512 (18/34) or 2048 (50/101) -> D
    return model, f"torchvision {torchvision.__version__} {arch}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet50", choices=("resnet18", "resnet34", "resnet50", "resnet101"))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dim", type=int, default=128, help="embedding size (aptrain's model.embed_dim default)")
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    ap.add_argument("--no-step", action="store_true", help="leave out the SGD step (bench_resnet_cuda without --step)")
    ap.add_argument("--profile", action="store_true", help="top 15 CUDA kernels of 3 profiled steps per mode")
    a = ap.parse_args()
    if a.batch % 4:
        ap.error("--batch must be a multiple of m = 4")
    modes = a.modes.split(",")
    if any(m not in ("eager", "compile") for m in modes):
        ap.error("--modes: eager and/or compile")
    if not torch.cuda.is_available():
        print("SKIP: no CUDA device")
        return 77
    torch.backends.cudnn.benchmark = True
    fp32 = a.precision == "fp32"
    if fp32:  # exact fp32: no TF32 tensor-core products anywhere
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
    fmt = torch.contiguous_format if fp32 else torch.channels_last
    tf32 = (f"TF32 cudnn={torch.backends.cudnn.allow_tf32} matmul={torch.backends.cuda.matmul.allow_tf32}")
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(0)
    x = torch.randn(a.batch, 3, a.size, a.size, device=dev).to(memory_format=fmt)
    labels = torch.arange(a.batch, device=dev) // 4
    for mode in modes:
        torch.manual_seed(0)
        model, arch = make_resnet(a.arch, a.dim)
        model = model.to(dev).to(memory_format=fmt)
        model.train()
        for mod in model.modules():              # frozen BN: eval statistics, affine still trained
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.eval()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        run = torch.compile(model) if mode == "compile" else model

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=not fp32):
                e = run(x)
            E = torch.nn.functional.normalize(e.float(), dim=1)
            loss = smooth_ap(E, labels)
            loss.backward()
            if not a.no_step:
                opt.step()
            return loss

        t_warm = time.perf_counter()
        for _ in range(a.warmup):
            step()
        torch.cuda.synchronize()
        t_warm = time.perf_counter() - t_warm
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        prec = "fp32 NCHW" if fp32 else "AMP bf16 channels_last"
        work = "fwd+loss+bwd" if a.no_step else "fwd+loss+bwd+SGD"
        print(f"| PyTorch {torch.__version__} {arch} {a.size}x{a.size} batch {a.batch} {prec} ({tf32}) "
              f"frozen BN, Smooth-AP, {mode} ({work}) | {name} | {a.batch / med:.1f} images/s "
              f"(median step {med * 1e3:.2f} ms; warm-up {t_warm:.1f} s) |", flush=True)
        if a.profile:
            kernel_table(step, 3, f"{arch} {a.size}x{a.size} batch {a.batch} {prec}, {mode} ({work})")
    return 0


if __name__ == "__main__":
    try:
        import torch
    except ImportError:
        print("SKIP: no torch in this python")
        sys.exit(77)
    sys.exit(main())
