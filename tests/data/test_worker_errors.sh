#!/usr/bin/env bash
# test_worker_errors.sh — an error found in a worker thread ends the run the way the main thread's errors do
# (DESIGN §5): a damaged row read by a loader thread, in a raw and in a jpeg dataset, trained by
# `aptrain config.yaml` (1 process, no launcher) and by `mpirun -np 2`, RUNS times each: exit status 1
# every time, exactly one `aptrain: error:` line naming the shard and the row, no crash (before the fix
# the loader thread's exit() ran library finalisers under the computing main thread: SIGSEGV, status 139),
# no sanitizer report. Then `aprep folder` over photos with one truncated JPEG:
# status 1, one line for the bad input plus the summary line, nothing written.
#   test_worker_errors.sh [RUNS]   (default 20; APTRAIN=path overrides the binary, to try an old build)
# Environment: APT_SOURCE_DIR, APT_BINARY_DIR (ctest sets them).
set -uo pipefail
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?} runs=${1:-20}
aptrain=${APTRAIN:-$bin/aptrain}
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-werr.XXXXXX")
cleanup() {
  local rc=$?
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "test_worker_errors: FAILED (rc $rc); files kept in $work"; fi
  exit "$rc"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# ASan tree: reports are fatal and distinct (exit 99), leaks belong to Open MPI/HDF5 (sanitize.sh).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}:exitcode=99
bad=0

# Two datasets, row 5 of the train shard damaged: every epoch reads every row (epoch sampler, 2 batches).
for st in raw jpeg; do
  "$bin/tests/apt_synth" "$work/$st" 8 16 8 "$st" > /dev/null || exit 1
  "$bin/tests/apt_synth" --damage "$work/$st/train-00000.h5" 5 || exit 1
done
# A small model, 2 loader threads, a checkpoint every step (HDF5 writes on the main thread while the loader
# threads read), no evaluation.
args=("$src/configs/quickstart.yaml" model.width=8 model.embed_dim=16 data.batch_size=64
      data.samples_per_class=8 schedule.max_steps=6 logging.every_steps=1 data.threads=2 data.prefetch=2
      eval.every_epochs=0 checkpoint.every_steps=1)

check_run() { # name rc output-file
  local name=$1 rc=$2 out=$3
  local errs; errs=$(grep -E '^aptrain: ' "$out" || true)
  local why=""
  [ "$rc" -eq 1 ] || why="exit status $rc, want 1"
  [ -z "$why" ] && [ "$(grep -c . <<< "$errs")" -ne 1 ] && why="want exactly one aptrain line"
  [ -z "$why" ] && ! grep -qE '^aptrain: error: (\[rank [01] [^]]*\] )?.*/train-00000\.h5: row 5: ' <<< "$errs" &&
    why="the line does not name the shard and row 5"
  [ -z "$why" ] && grep -qE 'Segmentation fault|AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$out" &&
    why="a crash or sanitizer report"
  if [ -n "$why" ]; then
    bad=$((bad + 1))
    echo "FAIL ($name): $why"; tail -n 15 "$out"
  fi
}

for st in raw jpeg; do
  for mode in np1 np2; do
    fails_before=$bad
    for i in $(seq 1 "$runs"); do
      name=$st-$mode-$i out=$work/$st-$mode-$i.txt
      rc=0
      if [ "$mode" = np1 ]; then
        timeout 120 "$aptrain" "${args[@]}" data.root="$work/$st" out_dir="$work/runs" run_name="$name" > "$out" 2>&1 || rc=$?
      else
        timeout 120 mpirun --oversubscribe -np 2 "$aptrain" "${args[@]}" data.root="$work/$st" out_dir="$work/runs" \
          run_name="$name" > "$out" 2>&1 || rc=$?
      fi
      check_run "$name" "$rc" "$out"
    done
    echo "$st $mode: $((runs - (bad - fails_before)))/$runs runs ended with status 1 and one line"
  done
done

# aprep: a folder of photos, one of them truncated; the check pass (worker threads) reports it, the main
# thread ends the run: one line naming it, one summary line, nothing written.
"$bin/tests/apt_synth" --photos "$work/photos" 6 || exit 1
f=$(ls "$work/photos/a/"*.jpg | head -n 1)
head -c 300 "$f" > "$f.tmp" && mv "$f.tmp" "$f"
fails_before=$bad
for i in $(seq 1 "$runs"); do
  out=$work/aprep-$i.txt rc=0
  timeout 60 "$bin/aprep" folder "$work/photos" "$work/prep-$i" --threads 2 > "$out" 2>&1 || rc=$?
  lines=$(grep -cE '^aprep: error: ' "$out" || true)
  if [ "$rc" -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -qE "^aprep: $f: JPEG header unreadable" "$out" || [ -e "$work/prep-$i" ] ||
     grep -qE 'Segmentation fault|AddressSanitizer|runtime error:' "$out"; then
    bad=$((bad + 1)); echo "FAIL (aprep $i): status $rc, $lines error lines"; cat "$out"
  fi
done
echo "aprep: $((runs - (bad - fails_before)))/$runs runs ended with status 1 naming $f"
[ "$bad" -eq 0 ] || exit 1
echo "test_worker_errors: PASS"
