#!/bin/sh
# run_vit_bench.sh — ViT forward+backward step, aptrain (bench_model) vs PyTorch (bench_vit_torch.py), the
# same model, batch, input and thread count, run alternately ROUNDS times so that both see the same
# machine load; prints every line plus the load average. Figures go to tests/bench/RESULTS.md.
#   tests/bench/run_vit_bench.sh BUILD_DIR [ARCH=vit_s16] [SIZE=224] [BATCH=16] [THREADS=2] [ROUNDS=3] [REPS=3]
set -eu
build=${1:?usage: run_vit_bench.sh BUILD_DIR [ARCH SIZE BATCH THREADS ROUNDS REPS]}
arch=${2:-vit_s16} size=${3:-224} batch=${4:-16} threads=${5:-2} rounds=${6:-3} reps=${7:-3}
here=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
date -u '+%Y-%m-%d %H:%M UTC'
i=0
while [ "$i" -lt "$rounds" ]; do
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$build/tests/bench_model" --arch "$arch" --size "$size" --batch "$batch" --reps "$reps" --dim 128 | tail -1
  /usr/bin/python3 "$here/bench_vit_torch.py" --arch "$arch" --size "$size" --batch "$batch" --reps "$reps" \
    --threads "$threads" --dim 128
  i=$((i + 1))
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
