#!/usr/bin/env bash
# test_run_tools.sh — launch/rerun.sh, launch/plot.sh and aptrain check on a 2-rank run of the synthetic dataset:
#   rerun.sh reproduces the run (metrics without timing fields, final checkpoint bitwise) and exits 0;
#   after one loss value of the original metrics.jsonl is altered it names that line and exits 1;
#   plot.sh writes loss/lr/throughput/recall PNGs (skipped without gnuplot);
#   aptrain check passes a good config and names missing data, too few classes, an unwritable run dir.
set -euo pipefail
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-tools.XXXXXX")
trap 'rc=$?; [ $rc -eq 0 ] && rm -rf "$work" || echo "files kept in $work"; exit $rc' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 APT_BIN=$bin/aptrain OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$bin/tests/apt_synth" "$work/data" 8 16 8
mpirun --oversubscribe -np 2 "$bin/aptrain" "$src/configs/quickstart.yaml" data.root="$work/data" out_dir="$work/runs" \
  run_name=r model.arch=smallcnn model.width=8 model.embed_dim=16 data.batch_size=32 data.samples_per_class=4 \
  schedule.max_steps=12 logging.every_steps=2 eval.every_steps=6 checkpoint.every_epochs=0 >"$work/train.txt" 2>&1 ||
  { cat "$work/train.txt"; exit 1; }
head -1 "$work/runs/r/config.yaml"
grep -q 'OMP threads 1' "$work/runs/r/config.yaml" || { echo "FAIL: thread count not recorded in config.yaml"; exit 1; }
"$src/launch/rerun.sh" "$work/runs/r" | tee "$work/rerun1.txt"
grep -q 'reproduced' "$work/rerun1.txt" || { echo "FAIL: rerun did not reproduce"; exit 1; }
sed -i '3s/"loss":[^,]*,/"loss":0.123,/' "$work/runs/r/metrics.jsonl"
rc=0; "$src/launch/rerun.sh" "$work/runs/r" >"$work/rerun2.txt" 2>&1 || rc=$?
cat "$work/rerun2.txt"
[ "$rc" -eq 1 ] && grep -q 'first divergence: metrics.jsonl line 3' "$work/rerun2.txt" ||
  { echo "FAIL: an altered metrics line 3 not reported (rc $rc)"; exit 1; }
if command -v gnuplot >/dev/null; then
  "$src/launch/plot.sh" "$work/runs/r" 2>/dev/null
  for p in loss lr throughput recall; do
    [ -s "$work/runs/r/plots/$p.png" ] && [ "$(head -c 4 "$work/runs/r/plots/$p.png" | tail -c 3)" = PNG ] ||
      { echo "FAIL: no $p.png"; exit 1; }
  done
else
  echo "plot.sh: gnuplot not installed, skipped"
fi
# aptrain check: a good config, then one problem line each for missing data, too few classes per batch
# and an unwritable run directory.
chk=("$src/configs/quickstart.yaml" data.root="$work/data" out_dir="$work/runs" run_name=c model.arch=smallcnn
     model.width=8 model.embed_dim=16 data.batch_size=32 data.samples_per_class=4)
"$bin/aptrain" check "${chk[@]}" --world 2 | tee "$work/check1.txt"
grep -q 'estimated memory per rank' "$work/check1.txt" && grep -q 'no problems found' "$work/check1.txt" ||
  { echo "FAIL: check of a good config"; exit 1; }
rc=0; "$bin/aptrain" check "${chk[@]}" data.root="$work/nodata" data.batch_size=48 out_dir=/proc/apt >"$work/check2.txt" 2>&1 || rc=$?
cat "$work/check2.txt"
[ "$rc" -eq 1 ] || { echo "FAIL: check of a bad config exits $rc, want 1"; exit 1; }
[ "$(grep -c 'nodata: dataset directory not found' "$work/check2.txt")" -eq 1 ] &&
  grep -q 'run directory /proc/apt/c' "$work/check2.txt" ||
  { echo "FAIL: missing data / unwritable run dir not reported"; exit 1; }
rc=0; "$bin/aptrain" check "${chk[@]}" data.batch_size=48 >"$work/check3.txt" 2>&1 || rc=$?
cat "$work/check3.txt"
[ "$rc" -eq 1 ] && grep -q 'draws 12 classes per batch, but only 8' "$work/check3.txt" ||
  { echo "FAIL: too few classes for the sampler not reported"; exit 1; }
echo PASS
