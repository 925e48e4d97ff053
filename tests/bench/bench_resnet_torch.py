#!/usr/bin/env python3
"""PyTorch peer of bench_resnet_cuda.c: ResNet training-step throughput on the GPU host's own PyTorch.

    python3 tests/bench/bench_resnet_torch.py [--arch resnet50] [--batch 128] [--size 224] [--steps 20]
                                              [--warmup 5] [--modes eager,compile] [--dim 512]

Same work as aptrain's benchmark: torchvision's --arch (resnet18/34/50/101, the same names as
bench_resnet_cuda --arch; anything else is refused; random init) with the embedding head of the
official Smooth-AP code (fc -> 512, L2 normalise), frozen BatchNorm (eval-mode statistics, trainable
affine), Smooth-AP with tau 0.01 on batches of 32 classes x 4, random inputs already on the GPU.
PyTorch settings: AMP autocast bf16, channels_last, cudnn.benchmark on, SGD step included (aptrain's
figure has no optimizer step; a fused SGD step over 25.6M parameters is well under 1 ms on an H100).
Modes: eager, and torch.compile (default mode) of the model. Prints one markdown row per mode:
images/s = batch / median step time over --steps timed steps after --warmup (compile: the warm-up
includes compilation). Needs a CUDA device (exit 77 otherwise).
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet50", choices=("resnet18", "resnet34", "resnet50", "resnet101"))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--modes", default="eager,compile")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("SKIP: no CUDA device")
        return 77
    import torchvision
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(0)
    x = torch.randn(a.batch, 3, a.size, a.size, device=dev).to(memory_format=torch.channels_last)
    labels = torch.arange(a.batch, device=dev) // 4
    for mode in a.modes.split(","):
        torch.manual_seed(0)
        model = getattr(torchvision.models, a.arch)()
        model.fc = torch.nn.Linear(model.fc.in_features, a.dim)  # 512 (18/34) or 2048 (50/101) -> D
        model = model.to(dev).to(memory_format=torch.channels_last)
        model.train()
        for mod in model.modules():              # frozen BN: eval statistics, affine still trained
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.eval()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        run = torch.compile(model) if mode == "compile" else model

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                e = run(x)
            E = torch.nn.functional.normalize(e.float(), dim=1)
            loss = smooth_ap(E, labels)
            loss.backward()
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
        print(f"| PyTorch {torch.__version__} {a.arch} {a.size}x{a.size} batch {a.batch} AMP bf16 channels_last "
              f"frozen BN, Smooth-AP, {mode} (fwd+loss+bwd+SGD) | {name} | {a.batch / med:.1f} images/s "
              f"(median step {med * 1e3:.2f} ms; warm-up {t_warm:.1f} s) |", flush=True)
    return 0


if __name__ == "__main__":
    try:
        import torch
    except ImportError:
        print("SKIP: no torch in this python")
        sys.exit(77)
    sys.exit(main())
