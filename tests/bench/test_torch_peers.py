#!/usr/bin/python3
"""test_torch_peers.py — the PyTorch peers of the benchmarks build exactly the architecture asked for.

bench_step_torch.py once timed ResNet-18 whatever --arch said. Checked here (CPU, no benchmark run):
  * bench_step_torch.ResNetEmb(arch, C) for resnet18/34/50/101 has torchvision's parameter count for that
    arch (the published figures below, with the 1000-class fc) minus that fc plus our head Linear(F, 128),
    F = 512 for 18/34 and 2048 for 50/101; with C = 1 the stem has 7*7*(3-1)*64 fewer weights.
  * an unknown arch is refused with exit status != 0: bench_step_torch.py with one line on stderr,
    bench_model_torch.py and bench_resnet_torch.py through argparse choices (before any work).
Exit 77 when Debian's torch/torchvision are not importable.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import torch  # noqa: F401
    import torchvision  # noqa: F401
except ImportError:
    print("SKIP: torch/torchvision not importable by", sys.executable)
    sys.exit(77)

import bench_step_torch  # noqa: E402  (main() is guarded)

# torchvision's documented parameter counts (ImageNet heads: fc = Linear(F, 1000)).
PUBLISHED = {"resnet18": (11689512, 512), "resnet34": (21797672, 512), "resnet50": (25557032, 2048),
             "resnet101": (44549160, 2048)}
D = 128
failures = 0


def check(ok, msg):
    global failures
    print(("ok   " if ok else "FAIL ") + msg)
    failures += 0 if ok else 1


for arch, (total, F) in PUBLISHED.items():
    for C in (3, 1):
        m = bench_step_torch.ResNetEmb(arch, C)
        got = sum(p.numel() for p in m.parameters())
        want = total - (F * 1000 + 1000) + (F * D + D) - (3 - C) * 64 * 7 * 7
        check(got == want and m.r.fc.in_features == F and m.r.conv1.in_channels == C,
              f"bench_step_torch {arch} C={C}: {got} parameters (want {want}), fc in {m.r.fc.in_features}")

env = dict(os.environ, OMP_NUM_THREADS="1")
for script, args in (("bench_step_torch.py", ["vgg16", "4", "32", "3", "1", "1"]),
                     ("bench_model_torch.py", ["--arch", "vgg16"]),
                     ("bench_resnet_torch.py", ["--arch", "vgg16"])):
    r = subprocess.run([sys.executable, os.path.join(HERE, script)] + args, capture_output=True, text=True,
                       env=env, timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    one_line = script != "bench_step_torch.py" or len(lines) == 1
    check(r.returncode not in (0, 77) and one_line and not r.stdout.strip(),
          f"{script} refuses arch vgg16 (status {r.returncode}, stderr: {lines[-1] if lines else ''})")

print("test_torch_peers:", "all checks passed" if not failures else f"{failures} checks FAILED")
sys.exit(1 if failures else 0)
