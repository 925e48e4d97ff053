#!/usr/bin/env bash
# rerun.sh RUN_DIR — re-execute a finished run from its resolved config.yaml with the same world size and
# thread counts (recorded in the config's header line), in a scratch directory, and check that it
# reproduces: metrics.jsonl line by line with timing fields (keys ending in _s) left out, and the final
# checkpoint (latest.h5: /params, /buffers, /optim) bitwise. Prints the first divergence and exits 1 on
# one; exits 0 when everything matches. Environment: APT_BIN (default build/aptrain), KEEP=1 keeps the
# scratch run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run=${1:?usage: launch/rerun.sh RUN_DIR}
run=$(cd "$run" && pwd)
bin=${APT_BIN:-$root/build/aptrain}
cfg=$run/config.yaml
for f in "$cfg" "$run/metrics.jsonl" "$run/checkpoints/latest.h5"; do
  [ -f "$f" ] || { echo "rerun: $f not found (a finished run directory is needed)" >&2; exit 2; }
done
header=$(head -1 "$cfg")
world=$(sed -n 's/.*world size \([0-9][0-9]*\).*/\1/p' <<<"$header")
omp=$(sed -n 's/.*OMP threads \([0-9][0-9]*\).*/\1/p' <<<"$header")
[ -n "$world" ] || { echo "rerun: no world size in the header of $cfg" >&2; exit 2; }
omp=${omp:-1}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/aptrain-rerun.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$scratch"' EXIT
echo "rerun: $run with world size $world, OMP_NUM_THREADS $omp (data.threads as in the config) -> $scratch"
export OMP_NUM_THREADS=$omp OPENBLAS_NUM_THREADS=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=("$cfg" out_dir="$scratch" run_name=rerun resume=never)
if [ "$world" -gt 1 ]; then
  mpirun --oversubscribe -np "$world" "$bin" "${args[@]}" >"$scratch/out.txt" 2>&1 || { tail -20 "$scratch/out.txt"; echo "rerun: the re-run failed"; exit 1; }
else
  "$bin" "${args[@]}" >"$scratch/out.txt" 2>&1 || { tail -20 "$scratch/out.txt"; echo "rerun: the re-run failed"; exit 1; }
fi

strip() { sed -E 's/,?"[A-Za-z0-9_@]*_s":[^,}]*//g; s/\{,/{/' "$1"; }
strip "$run/metrics.jsonl" >"$scratch/a.jsonl"
strip "$scratch/rerun/metrics.jsonl" >"$scratch/b.jsonl"
if ! cmp -s "$scratch/a.jsonl" "$scratch/b.jsonl"; then
  n=$(cmp "$scratch/a.jsonl" "$scratch/b.jsonl" 2>&1 | sed -n 's/.* line \([0-9]*\).*/\1/p' || true)
  [ -n "$n" ] || n=$(( $(wc -l <"$scratch/a.jsonl") < $(wc -l <"$scratch/b.jsonl") ? $(wc -l <"$scratch/a.jsonl") + 1 : $(wc -l <"$scratch/b.jsonl") + 1 ))
  echo "rerun: first divergence: metrics.jsonl line $n (timing fields left out)"
  echo "  original: $(sed -n "${n}p" "$scratch/a.jsonl")"
  echo "  rerun:    $(sed -n "${n}p" "$scratch/b.jsonl")"
  exit 1
fi
for g in /params /buffers /optim; do
  if ! h5diff -q "$run/checkpoints/latest.h5" "$scratch/rerun/checkpoints/latest.h5" "$g" 2>/dev/null; then
    echo "rerun: first divergence: checkpoints/latest.h5 $g differs (metrics matched):"
    h5diff -r "$run/checkpoints/latest.h5" "$scratch/rerun/checkpoints/latest.h5" "$g" 2>&1 | grep -m 6 -E '^dataset|^\[|position' || true
    exit 1
  fi
done
echo "rerun: reproduced: $(wc -l <"$scratch/a.jsonl") metrics lines equal (timing fields left out), latest.h5 /params /buffers /optim bitwise equal"
