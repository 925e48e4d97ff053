#!/usr/bin/env bash
# test_slurm.sh — aptrain under a real one-node Slurm (tests/launch/slurm_local.sh), through the shipped
# batch script launch/slurm/aptrain.sbatch with 2 tasks (srun --mpi=pmix), on a synthetic dataset:
#   1. a job trains to the end: COMPLETED, exit 0, leaderboard.json written;
#   2. the same training in a second job, pre-empted mid-run the way Slurm does it (USR1 to the batch
#      shell, as --signal=B:USR1@T would): the ranks checkpoint and exit 75, the script requeues the job,
#      it starts again, resumes from latest.h5 and finishes; its final weights, BN buffers and optimizer
#      state equal job 1's bitwise.
# First (no cluster needed): the srun line of launch/slurm/aptrain-multinode.sbatch (test_launch_lines.sh).
# Daemons are stopped by PID on every exit path: an EXIT trap, and a guard process (outside the test's
# process tree, so it survives ctest killing the test on TIMEOUT) that cleans up once this shell is gone.
# Usage: test_slurm.sh [TIME_LIMIT_S]   (environment: APT_SOURCE_DIR, APT_BINARY_DIR, as ctest sets)
set -euo pipefail
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
limit=${1:-540}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The multi-node template's generated srun line (fake srun; a 2-node Slurm is not possible on one host here).
"$here/test_launch_lines.sh" sbatch
for c in sbatch slurmctld slurmd munged h5diff; do
  command -v "$c" >/dev/null || { echo "SKIP: $c not installed (launch/install-deps.sh)"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-slurm.XXXXXX")
chmod 0755 "$work" # munged runs as user munge and must reach its socket below
sl=$work/slurm
t0=$(date +%s)
say() { printf '[test_slurm %3ds] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -f "$sl/etc/slurm.conf" ]; then
    export SLURM_CONF=$sl/etc/slurm.conf
    scancel --user=root --quiet 2>/dev/null || true          # only this cluster's jobs (own SLURM_CONF)
    for _ in $(seq 100); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  "$here/slurm_local.sh" stop "$sl" || true
  [ -n "${timer:-}" ] && kill "$timer" 2>/dev/null
  [ -n "${guard:-}" ] && kill "$guard" 2>/dev/null
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "test_slurm: FAILED (rc $rc); files kept in $work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' INT TERM

# The guard: double-forked (re-parented to init), it waits for this shell to vanish however it ends, then
# cancels the jobs and stops the daemons recorded under $sl (a no-op after a normal cleanup).
me=$$
( setsid bash -c "
    while kill -0 $me 2>/dev/null; do sleep 1; done
    export SLURM_CONF=$sl/etc/slurm.conf
    [ -f $sl/etc/slurm.conf ] && { scancel --user=root --quiet 2>/dev/null; sleep 6; }
    '$here/slurm_local.sh' stop '$sl' >/dev/null 2>&1" </dev/null >/dev/null 2>&1 & echo $! >"$work/guard.pid" )
guard=$(cat "$work/guard.pid")
# Our own deadline, below ctest's TIMEOUT, so the EXIT trap runs.
( trap 'kill $sp 2>/dev/null; exit 0' TERM
  sleep "$limit" & sp=$!
  wait $sp && { echo "test_slurm: no result after $limit s, giving up"; kill -TERM $me; } ) &
timer=$!

"$here/slurm_local.sh" start "$sl"
export SLURM_CONF=$sl/etc/slurm.conf
"$bin/tests/apt_synth" "$work/data" 8 16 8
export APT_BIN=$bin/aptrain OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# The quickstart config, shortened: synthetic 28x28 data, a narrower smallcnn-flat, 150 steps.
train=(data.root="$work/data" out_dir="$work/runs" model.width=16 model.embed_dim=32 data.batch_size=64
       data.samples_per_class=8 schedule.max_steps=150 logging.every_steps=5 checkpoint.every_epochs=0 data.threads=1)

# state JOBID -> "JobState Restarts ExitCode"
state() {
  scontrol show job -o "$1" 2>/dev/null |
    sed -E 's/.*JobState=([A-Z_]+).*Restarts=([0-9]+).*ExitCode=([0-9:]+).*/\1 \2 \3/'
}
# wait_done JOBID: until the job is finished (COMPLETED, FAILED, ...), not merely between requeues.
wait_done() {
  local s
  while :; do
    s=$(state "$1")
    case "$s" in
      COMPLETED*|FAILED*|CANCELLED*|TIMEOUT*|NODE_FAIL*|OUT_OF_MEMORY*|BOOT_FAIL*|DEADLINE*) echo "$s"; return ;;
    esac
    sleep 0.3
  done
}
submit() { # submit NAME -> job id
  sbatch --parsable --job-name="$1" --ntasks=2 --chdir="$work" --output="$work/$1.out" \
    "$src/launch/slurm/aptrain.sbatch" "$src/configs/quickstart.yaml" "${train[@]}" run_name="$1"
}

# ---- 1. uninterrupted
j1=$(submit ref)
say "job $j1 (uninterrupted) submitted"
s=$(wait_done "$j1")
say "job $j1: $s"
[ "$s" = "COMPLETED 0 0:0" ] || { cat "$work/ref.out"; echo "FAIL: job $j1 ended '$s'"; exit 1; }
lb=$work/runs/ref/leaderboard.json
grep -q '"R@1": [0-9]' "$lb" && grep -q '"world_size": 2,' "$lb" && grep -q '"step": 150,' "$lb" ||
  { cat "$lb"; echo "FAIL: leaderboard.json lacks R@1, world size 2 or step 150"; exit 1; }
say "leaderboard: $(grep -o '"ours".*' "$lb")"

# ---- 2. pre-empted once at step >= 40, requeued, resumed
j2=$(submit pre)
say "job $j2 (to be pre-empted) submitted"
m=$work/runs/pre/metrics.jsonl
until [ -f "$m" ] && grep -qE '"step":([4-9][0-9]|1[0-9][0-9])[,}]' "$m"; do
  case "$(state "$j2")" in RUNNING*|PENDING*|CONFIGURING*) sleep 0.1 ;; *) cat "$work/pre.out"; echo "FAIL: job $j2 ended before step 40"; exit 1 ;; esac
done
say "job $j2 at $(grep -o '"step":[0-9]*' "$m" | tail -1): scancel --signal=USR1 --batch"
scancel --signal=USR1 --batch "$j2"
s=$(wait_done "$j2")
say "job $j2: $s"
cat "$work/pre.out"
[ "$s" = "COMPLETED 1 0:0" ] || { echo "FAIL: job $j2 ended '$s' (want COMPLETED after 1 restart)"; exit 1; }
grep -q 'requeueing job' "$work/pre.out" || { echo "FAIL: the batch script did not requeue"; exit 1; }
grep -qE 'resumed from .*latest\.h5 at step [0-9]+' "$work/pre.out" || { echo "FAIL: no resume from latest.h5"; exit 1; }
at=$(grep -oE 'resumed from .*latest\.h5 at step [0-9]+' "$work/pre.out" | grep -oE '[0-9]+$' | head -1)
[ "$at" -ge 40 ] && [ "$at" -lt 150 ] || { echo "FAIL: resumed at step $at, want 40..149"; exit 1; }
for g in /params /buffers /optim; do
  h5diff -q "$work/runs/ref/checkpoints/latest.h5" "$work/runs/pre/checkpoints/latest.h5" "$g" ||
    { h5diff -r "$work/runs/ref/checkpoints/latest.h5" "$work/runs/pre/checkpoints/latest.h5" "$g" | head; echo "FAIL: $g differ"; exit 1; }
done
say "PASS: pre-empted at step $at, requeued, resumed; final state bitwise equal to the uninterrupted job"
