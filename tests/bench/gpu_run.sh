#!/usr/bin/env bash
# The whole GPU check in one command, on a GPU host, from the project root:
#     bash tests/bench/gpu_run.sh [LOGDIR]        (LOGDIR default: $OUT, else build/gpu-logs)
# Expects what tests/bench/gpu_pack.sh prepared on the Debian build machine: .devdeps/ (Debian runtime
# packages + env.sh) and .gpubin/ (aptrain, test and benchmark binaries); falls back to build/ and
# build/tests/ when .gpubin is absent. Steps, each logged to one file under LOGDIR (6 files in all):
#   env.log         device, driver, torch; `ldd` of every binary (a missing library fails the run)
#   tests.log       every ctest test labelled gpu (found in tests/*/tests.cmake), run directly from the
#                   binary folder (the carried build's ctest files hold this machine's absolute paths);
#                   NP tests under mpirun. On a GPU host a SKIP (exit 77) counts as a failure.
#   bench_loss.log  fused loss at B = 4096/16384/65536, D 512, m 4: one GPU holding every query (W=1)
#                   and one rank's share of 32 (b = B/32); smoothap and pnp-dq
#   bench_nccl.log  NCCL all-reduce of the ResNet-50 gradient buffer, buckets, overlap with a synthetic
#                   backward (mpirun -np <GPUs on this host>)
#   bench_resnet.log aptrain ResNet-50 (bf16 convolutions, then fp32) and PyTorch (AMP bf16,
#                   channels_last, eager and torch.compile) on the same GPU
#   summary.md      one line per step (PASS/FAIL/rc) and the benchmark tables, ready for RESULTS.md
# Exit status: 0 when every step passed, 1 otherwise (benchmarks always run to the end).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
LOG="${1:-${OUT:-$root/build/gpu-logs}}"
mkdir -p "$LOG"
# APT_NO_DEVDEPS=1: use the libraries already installed (the Debian build machine itself)
if [ -z "${APT_NO_DEVDEPS:-}" ] && [ -f .devdeps/env.sh ]; then source .devdeps/env.sh; fi
BIN="${APT_GPU_BIN:-}"
if [ -z "$BIN" ]; then
  if [ -d .gpubin ]; then BIN="$root/.gpubin"; else BIN="$root/build/tests"; fi
fi
APTRAIN="$BIN/aptrain"; [ -x "$APTRAIN" ] || APTRAIN="$root/build/aptrain"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-4}
export HDF5_USE_FILE_LOCKING=FALSE APT_SOURCE_DIR="$root" APT_BINARY_DIR="$root/build"
SUM="$LOG/summary.md"
failed=0
: > "$SUM"
note() { echo "$*" | tee -a "$SUM"; }
result() { # name rc
  if [ "$2" -eq 0 ]; then note "- PASS $1"; else note "- FAIL $1 (rc $2)"; failed=1; fi
}
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
[ "${NGPU:-0}" -ge 1 ] || NGPU=1

note "# aptrain GPU run — $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
note ""

# ---- 1. environment and ldd ----
(
  echo "## nvidia-smi"; nvidia-smi || true
  echo "## nvcc"; nvcc --version 2>&1 | tail -2 || true
  echo "## python3 torch"; python3 -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))' 2>&1 || true
  echo "## LD_LIBRARY_PATH"; echo "${LD_LIBRARY_PATH:-}" | tr ':' '\n'
  echo "## ldd"
  missing=0
  for f in "$APTRAIN" "$BIN"/test_* "$BIN"/bench_*; do
    [ -x "$f" ] || continue
    out=$(ldd "$f" 2>&1)
    if echo "$out" | grep -q 'not found'; then
      echo "MISSING in $f:"; echo "$out" | grep 'not found'; missing=1
    fi
    echo "$out" | grep -E 'cudnn|nccl|cublas|cudart|mpi|hdf5|openblas|yaml' | sed "s|^|$(basename "$f"): |"
  done
  exit $missing
) > "$LOG/env.log" 2>&1
result "ldd: every library of every binary found (env.log)" $?
note "- device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# ---- 2. gpu-labelled tests ----
(
  # apt_test(NAME n SOURCES ... [NP k] ... LABELS ... gpu ...) lines
  grep -h 'apt_test(NAME' tests/*/tests.cmake | grep -E 'LABELS[^)]*\bgpu\b' | while read -r line; do
    name=$(echo "$line" | sed -E 's/.*NAME ([A-Za-z0-9_]+).*/\1/')
    np=$(echo "$line" | sed -nE 's/.* NP ([0-9]+).*/\1/p')
    exe="$BIN/$name"
    if [ ! -x "$exe" ]; then echo "FAIL $name: binary $exe missing"; echo 1 >> "$LOG/.tfail"; continue; fi
    if [ -n "$np" ]; then cmd=(mpirun --oversubscribe -np "$np" "$exe"); label="${name}_np$np"
    else cmd=("$exe"); label="$name"; fi
    echo "=== $label: ${cmd[*]}"
    start=$SECONDS
    timeout 600 "${cmd[@]}" < /dev/null; rc=$?  # mpirun would eat the list being read
    dur=$((SECONDS - start))
    if [ $rc -eq 0 ]; then echo "PASS $label (${dur}s)"
    elif [ $rc -eq 77 ]; then echo "FAIL $label: skipped (exit 77) on a GPU host"; echo 1 >> "$LOG/.tfail"
    else echo "FAIL $label (rc $rc)"; echo 1 >> "$LOG/.tfail"; fi
  done
  [ ! -s "$LOG/.tfail" ]; tfail=$?; rm -f "$LOG/.tfail"; exit $tfail
) > "$LOG/tests.log" 2>&1
result "gpu-labelled tests (tests.log)" $?
grep -E '^(PASS|FAIL) ' "$LOG/tests.log" | sed 's/^/  - /' | tee -a "$SUM"

# ---- 3. fused loss benchmark ----
{
  "$BIN/bench_loss_cuda" --loss smoothap --reps 10 4096 16384 65536 &&
  "$BIN/bench_loss_cuda" --loss smoothap --reps 10 --world 32 4096 16384 65536 &&
  "$BIN/bench_loss_cuda" --loss pnp-dq --reps 10 4096 16384 65536
} > "$LOG/bench_loss.log" 2>&1
result "bench_loss_cuda (bench_loss.log)" $?

# ---- 4. NCCL all-reduce and overlap ----
timeout 600 mpirun --oversubscribe -np "$NGPU" "$BIN/bench_nccl" --bucket-mb 25 --bwd-ms 60 --reps 10 \
  > "$LOG/bench_nccl.log" 2>&1
result "bench_nccl -np $NGPU (bench_nccl.log)" $?

# ---- 5. ResNet-50: aptrain vs PyTorch on this GPU ----
{
  echo "| what | device | throughput |"; echo "|---|---|---|"
  timeout 600 "$BIN/bench_resnet_cuda" --batch 128 --size 224 --steps 20 --warmup 5; a1=$?
  timeout 600 "$BIN/bench_resnet_cuda" --batch 128 --size 224 --steps 10 --warmup 3 --fp32; a2=$?
  timeout 900 python3 tests/bench/bench_resnet_torch.py --batch 128 --size 224 --steps 20 --warmup 5 \
    --modes eager,compile; t=$?
  echo "rc aptrain-bf16=$a1 aptrain-fp32=$a2 torch=$t"
  [ $a1 -eq 0 ] && [ $a2 -eq 0 ] && [ $t -eq 0 ]
} > "$LOG/bench_resnet.log" 2>&1
result "ResNet-50 aptrain vs PyTorch (bench_resnet.log)" $?

note ""
for f in bench_loss bench_nccl bench_resnet; do
  note "## $f"; note '```'; grep -E '^(#|\||BLOCKED|SKIP|rc )' "$LOG/$f.log" | tee -a "$SUM"; note '```'
done
note ""
[ $failed -eq 0 ] && note "RESULT: all steps passed" || note "RESULT: some steps FAILED (see the logs)"
exit $failed
