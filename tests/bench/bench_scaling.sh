#!/usr/bin/env bash
# Scaling benchmark (tests/bench/RESULTS.md "Scaling"): the same global batch (tests/bench/scaling.yaml,
# B = 160) on W ranks, each run the command users run: `mpirun -np W aptrain tests/bench/scaling.yaml`.
# Prints one table: per-step time and its phases (rank 0's metrics.jsonl "t_*_s", steps 2..N: step 1
# starts the loader), the communication share (exchange + all-reduce wait), and the agreement with W = 1:
# max |loss difference| over the steps, max |weight difference| and the worst per-tensor relative L2
# difference of the final weights (checkpoints/latest.h5 /params), final Recall@1.
# Usage: [OVERRIDES="key=value ..."] tests/bench/bench_scaling.sh [BUILD_DIR] [WORK_DIR] [W ...]
#        (default W: 1 2 4 32; OVERRIDES go to every run, e.g. "optim.name=sgd optim.lr=0.05")
# Ranks beyond the cores are oversubscribed (mpirun --oversubscribe), one OpenMP/OpenBLAS thread each.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build}"
work="${2:-/tmp/apt_bench_scaling}"
shift $(( $# > 2 ? 2 : $# ))
worlds=("$@")
[ ${#worlds[@]} -gt 0 ] || worlds=(1 2 4 32)
py=/usr/bin/python3 # Debian's, with numpy and h5py
read -r -a overrides <<<"${OVERRIDES:-}"
cores=$(nproc --all) # before OMP_NUM_THREADS=1, which plain nproc reports
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$work"
[ -f "$work/fm/train.h5" ] || "$build/aprep" fashion-mnist "$work/fm" >/dev/null
echo "## $(date -u '+%F %H:%M UTC'), $cores cores, load average: $(cut -d' ' -f1-3 /proc/loadavg); overrides: ${OVERRIDES:-none}"
runs=()
for w in "${worlds[@]}"; do
  rm -rf "$work/runs/w$w"
  t0=$(date +%s.%N)
  mpirun --oversubscribe -np "$w" "$build/aptrain" "$root/tests/bench/scaling.yaml" data.root="$work/fm" \
    out_dir="$work/runs" run_name="w$w" resume=never "${overrides[@]}" >"$work/w$w.log" 2>&1 \
    || { tail -20 "$work/w$w.log"; echo "bench_scaling: W=$w failed"; exit 1; }
  t1=$(date +%s.%N)
  echo "W=$w: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s end to end (launch, set-up, the steps, final evaluation, checkpoint); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  runs+=("$work/runs/w$w")
done
"$py" "$root/tests/bench/bench_scaling_table.py" "${runs[@]}"
