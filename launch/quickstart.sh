#!/usr/bin/env bash
# The README's main command: metric learning on Fashion-MNIST with Smooth-AP, small CNN, CPU, 2 MPI ranks.
#   launch/quickstart.sh [key=value ...]       overrides go to aptrain (e.g. schedule.epochs=1)
# Steps: install missing Debian packages, build, prepare the dataset (aprep) unless present, train
# configs/quickstart.yaml under mpirun (evaluating on the test split at the end), print the leaderboard.
# Environment: APT_NP (ranks, default 2), APT_BUILD_DIR (default build/), APT_DATA (default data/fashion-mnist).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${APT_BUILD_DIR:-$root/build}"
data="${APT_DATA:-$root/data/fashion-mnist}"
np="${APT_NP:-2}"
cd "$root"

"$root/launch/install-deps.sh"
if [ ! -x "$build/aptrain" ] || [ ! -x "$build/aprep" ] || [ -n "${APT_REBUILD:-}" ]; then
  APT_BUILD_DIR="$build" "$root/launch/build.sh"
else
  cmake --build "$build" -j "$(nproc)" > /dev/null
fi
if [ ! -f "$data/train.h5" ] || [ ! -f "$data/test.h5" ]; then
  "$build/aprep" fashion-mnist "$data"
fi

start=$(date +%s)
# resume=never: the quickstart is a fresh run each time (pass resume=auto to continue an interrupted one).
APT_BIN="$build/aptrain" "$root/launch/mpirun.sh" "$np" aptrain configs/quickstart.yaml \
  data.root="$data" resume=never "$@"
end=$(date +%s)

run="$root/runs/quickstart"
for a in "$@"; do case "$a" in run_name=*) run="$root/runs/${a#run_name=}";; out_dir=*) run="${a#out_dir=}/quickstart";; esac; done
echo
echo "quickstart: trained and evaluated in $((end - start)) s with $np ranks; run directory $run"
if [ -f "$run/leaderboard.md" ]; then
  cat "$run/leaderboard.md"
else
  grep '"type":"eval"' "$run/metrics.jsonl" | tail -1
fi
