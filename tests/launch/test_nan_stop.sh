#!/usr/bin/env bash
# test_nan_stop.sh — the numeric stop at 2 ranks under mpirun (tests/train/test_stop.c covers 1 rank in
# process). An absurd SGD learning rate makes step 2 non-finite on every rank:
#   train.on_nan abort: mpirun exits 4 (APT_EXIT_NUMERIC, passed on by MPI_Abort in the abort hook), exactly
#     one aptrain line (rank 0's, naming the step, a rank and that rank's batch), the same line last in the
#     run's log.txt, no rank reported lost by a watchdog, no process of the job left, latest.h5 untouched;
#   train.on_nan skip, max_nan_skips 2: one warning per rank for the skipped step, then the stop as above.
# Environment: APT_SOURCE_DIR, APT_BINARY_DIR (ctest sets them).
set -euo pipefail
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-nan.XXXXXX")
cleanup() {
  local rc=$?
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "test_nan_stop: FAILED (rc $rc); files kept in $work"; fi
  exit "$rc"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$bin/tests/apt_synth" "$work/data" 8 16 8 > /dev/null
args=("$src/configs/quickstart.yaml" data.root="$work/data" out_dir="$work/runs" model.width=8 model.embed_dim=16
      data.batch_size=64 data.samples_per_class=8 schedule.max_steps=50 logging.every_steps=1 data.threads=1
      eval.every_epochs=0 checkpoint.every_steps=1 optim.name=sgd optim.momentum=0 optim.lr=1e30)
fail() { cat "$out"; echo "FAIL ($name): $*"; exit 1; }

for name in abort skip; do
  out=$work/$name.txt run=$work/runs/$name
  extra=(run_name="$name"); [ "$name" = skip ] && extra+=(train.on_nan=skip train.max_nan_skips=2)
  rc=0; timeout 120 mpirun --oversubscribe -np 2 "$bin/aptrain" "${args[@]}" "${extra[@]}" > "$out" 2>&1 || rc=$?
  [ "$rc" -eq 4 ] || fail "mpirun exit status $rc, want 4"
  errs=$(grep -E '^aptrain: ' "$out" || true)
  [ "$(grep -c . <<< "$errs")" -eq 1 ] || fail "want exactly one aptrain line, got: $errs"
  grep -qE '^aptrain: error: \[rank 0 [^]]*\] step [0-9]+ \(epoch [0-9]+\): loss .*: (rank [01]|every rank)'"'"'s loss part .*; rank [01]'"'"'s batch \[[0-9,]+\]; stopping' <<< "$errs" ||
    fail "the line does not name step, rank and batch: $errs"
  grep -q 'lost rank' "$out" && fail "a watchdog reported a rank lost"
  [ "$(tail -n 1 "$run/log.txt")" = "${errs#aptrain: }" ] || { tail -3 "$run/log.txt"; fail "the line is not last in log.txt"; }
  step=$(sed -nE 's/.*\] step ([0-9]+) .*/\1/p' <<< "$errs")
  if [ "$name" = skip ]; then
    warns=$(grep -cE '^warning: step [0-9]+ .*; rank [01]'"'"'s batch \[.*skipped without an update \(1 in a row' "$out" || true)
    [ "$warns" -eq 2 ] || fail "want one skip warning per rank, got $warns"
    grep -q 'stopping (2 in a row' <<< "$errs" || fail "the stop line lacks the skip count: $errs"
  else
    grep -q 'train.on_nan abort' <<< "$errs" || fail "the stop line does not name the policy: $errs"
  fi
  want=$(( step - 1 )) # abort: the last good step; skip: the skipped step counts as done and is checkpointed
  got=$(h5dump -a /step "$run/checkpoints/latest.h5" 2> /dev/null | sed -nE 's/^ *\(0\): ([0-9]+)$/\1/p')
  [ "$got" = "$want" ] || fail "latest.h5 at step '$got', want $want (the last step done before the stop)"
  sleep 0.5
  left=$(pgrep -f "$bin/aptrain .*run_name=$name" || true)
  [ -z "$left" ] || fail "processes of the job left: $left"
  echo "$name: exit 4 after step $step, one line: $errs"
done
echo "test_nan_stop: PASS"
