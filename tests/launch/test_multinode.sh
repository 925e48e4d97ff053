#!/usr/bin/env bash
# test_multinode.sh MODE — set-up failures of a multi-node run, provoked at 2 ranks on one host with the
# real binary under mpirun (README "Multi-node"; src/train/agree.c, watchdog.c, test_hooks.c):
#   startup  rank 1 stops itself right after MPI_Init (APT_TEST_STOP_RANK=1): the start-up watchdog ends
#            the job with status 5 within dist.timeout_io_s (4 s) + slack, one line naming start-up, and
#            no communicator was ever built (the trainer's "dist.backend ..." line never appears);
#            rank 0 is the only rank that reports the stop (rank 1 may report rank 0 gone once continued);
#   shared   two ranks in different working directories (mpirun -wdir per app context) with a relative
#            out_dir: refused with status 1 and ONE line "run directory ... is not shared ... (rank 1 sees
#            no heartbeat of rank 0 ...)"; the same pair with dist.heartbeat_s 0 is not refused (it runs
#            its one step);
#   agree    rank 0 fp32, rank 1 bf16 (per app context): refused with status 1 and one line naming both
#            ranks and both precisions;
#   gpudup   both ranks claim the same GPU (APT_TEST_DEVICE_ID gives the cpu backend a fake PCI bus id);
#            refused, but a warning with dist.backend=mpi (staged: the GPU check's two ranks on one GPU):
#            refused with status 1 and one line naming ranks 0-1, the host and the id.
# Environment: APT_SOURCE_DIR, APT_BINARY_DIR (ctest sets them).
set -euo pipefail
mode=${1:?startup|shared|agree|gpudup}
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-multinode.XXXXXX")
t0=$(date +%s.%N)
say() { printf '[test_multinode %s %5.1fs] %s\n' "$mode" "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
cleanup() {
  local rc=$?
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "test_multinode $mode: FAILED (rc $rc); files kept in $work"; fi
  exit "$rc"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$bin/tests/apt_synth" "$work/data" 8 16 8 > /dev/null
out=$work/out.txt
args=("$src/configs/quickstart.yaml" data.root="$work/data" out_dir="$work/runs" run_name=mn model.width=8
      model.embed_dim=16 data.batch_size=64 data.samples_per_class=8 schedule.max_steps=1 logging.every_steps=1
      data.threads=1 eval.every_epochs=0 checkpoint.every_epochs=0)
fail() { cat "$out"; echo "FAIL ($mode): $*"; exit 1; }
# Exactly one aptrain line from rank 0, matching $1; prints it. (startup: rank 1, continued by mpirun's
# SIGCONT on the way to its SIGTERM, may add a line of its own finding rank 0 gone.)
one_line() {
  local lines; lines=$(grep -E '^aptrain: (error: )?\[rank 0 ' "$out" || true)
  echo "$lines"
  [ "$(grep -c . <<<"$lines")" -eq 1 ] || fail "want exactly one aptrain line"
  grep -qE "$1" <<<"$lines" || fail "the line does not match /$1/"
}

case $mode in
startup)
  rc=0
  APT_TEST_STOP_RANK=1 timeout 60 mpirun --oversubscribe -np 2 -x APT_TEST_STOP_RANK "$bin/aptrain" "${args[@]}" \
    dist.timeout_io_s=4 > "$out" 2>&1 || rc=$?
  dt=$(echo "$(date +%s.%N) - $t0" | bc)
  say "mpirun exited with status $rc after ${dt}s"
  [ "$rc" -eq 5 ] || fail "mpirun exit status $rc, want 5"
  (( $(echo "$dt < 30" | bc) )) || fail "took ${dt}s"
  one_line '^aptrain: \[rank 0 [^]]*\] start-up did not finish within 4 s \(dist\.timeout_io_s\)'
  ! grep -q 'dist.backend' "$out" || fail "a communicator was built before the stop was noticed"
  ;;
shared)
  mkdir -p "$work/A" "$work/B"
  rel=("${args[@]}"); rel[2]=out_dir=runs   # relative: each rank's own working directory
  rc=0
  timeout 60 mpirun --oversubscribe -np 1 -wdir "$work/A" "$bin/aptrain" "${rel[@]}" : \
    -np 1 -wdir "$work/B" "$bin/aptrain" "${rel[@]}" > "$out" 2>&1 || rc=$?
  say "different working directories: status $rc"
  [ "$rc" -eq 1 ] || fail "mpirun exit status $rc, want 1"
  one_line '^aptrain: error: \[rank 0 [^]]*\] run directory runs/mn is not shared: every node must see the same out_dir \(rank 1 sees no heartbeat of rank 0'
  [ -d "$work/A/runs/mn" ] && [ -d "$work/B/runs/mn" ] || fail "each rank should have made its own run directory"
  rc=0
  timeout 120 mpirun --oversubscribe -np 1 -wdir "$work/A" "$bin/aptrain" "${rel[@]}" dist.heartbeat_s=0 : \
    -np 1 -wdir "$work/B" "$bin/aptrain" "${rel[@]}" dist.heartbeat_s=0 > "$out" 2>&1 || rc=$?
  say "the same with dist.heartbeat_s 0: status $rc"
  [ "$rc" -eq 0 ] || fail "with heartbeats off the run should not be refused (status $rc)"
  ;;
agree)
  rc=0
  timeout 60 mpirun --oversubscribe -np 1 "$bin/aptrain" "${args[@]}" precision=fp32 : \
    -np 1 "$bin/aptrain" "${args[@]}" precision=bf16 > "$out" 2>&1 || rc=$?
  say "fp32 on rank 0, bf16 on rank 1: status $rc"
  [ "$rc" -eq 1 ] || fail "mpirun exit status $rc, want 1"
  one_line '^aptrain: error: \[rank 0 [^]]*\] ranks disagree on the precision \(fp32 on rank 0, bf16 on rank 1\): every rank must run the same'
  ;;
gpudup)
  rc=0
  APT_TEST_DEVICE_ID=0000:3b:00.0 timeout 60 mpirun --oversubscribe -np 2 -x APT_TEST_DEVICE_ID "$bin/aptrain" \
    "${args[@]}" > "$out" 2>&1 || rc=$?
  say "two ranks on one GPU id: status $rc"
  [ "$rc" -eq 1 ] || fail "mpirun exit status $rc, want 1"
  one_line "^aptrain: error: \[rank 0 [^]]*\] ranks 0-1 on host $(hostname) share one GPU \(PCI bus id 0000:3b:00.0\): run one rank per GPU"
  # dist.backend mpi asked for explicitly (the staged path; the GPU check's two ranks on one GPU): a warning
  rc=0
  APT_TEST_DEVICE_ID=0000:3b:00.0 timeout 60 mpirun --oversubscribe -np 2 -x APT_TEST_DEVICE_ID "$bin/aptrain" \
    "${args[@]}" dist.backend=mpi > "$out" 2>&1 || rc=$?
  say "the same with dist.backend=mpi: status $rc"
  [ "$rc" -eq 0 ] || { cat "$out"; fail "mpirun exit status $rc with dist.backend=mpi, want 0"; }
  grep -q "ranks 0-1 on host $(hostname) share one GPU (PCI bus id 0000:3b:00.0): allowed with dist.backend mpi" "$out" \
    || { cat "$out"; fail "no shared-GPU warning with dist.backend=mpi"; }
  ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
say PASS
