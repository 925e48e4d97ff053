#!/usr/bin/env bash
# The loss benchmark of tests/bench/RESULTS.md: ours vs the naive PyTorch Smooth-AP, then ours alone
# at large B. Usage: tests/bench/run_loss_bench.sh [BUILD_DIR]   (2 threads everywhere)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build}"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
echo "## $(date -u '+%F %H:%M UTC'), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/tests/bench_loss" --reps 5 --check 96 384 1024 4096
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/tests/bench_loss" --reps 5 96 384 1024 4096
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$root/tests/bench/bench_loss_torch.py" --reps 3 --timeout 600 --mem-gb 12 96 384 768 1024 4096
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/tests/bench_loss" --reps 3 --slice 2048 16384 65536
"$build/tests/bench_loss" --reps 1 16384
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
