#!/usr/bin/env bash
# stress_preempt.sh — the pre-emption of test_slurm.sh without Slurm, many times: a 2-rank training
# (mpirun, the same shortened quickstart config) gets SIGUSR1 at a random moment, must exit 75 with a
# checkpoint, and a resumed run must finish (exit 0) with weights bitwise equal to an uninterrupted run.
# Not a ctest (minutes); a tool for memory-safety bugs on the pre-emption path.
#
#   stress_preempt.sh [-n ITER] [-b BUILD_DIR] [-m both|one|mpirun|mix] [-k] [-x 'ENV=V ...']
#     -n  iterations (default 50)
#     -b  build tree with aptrain and tests/apt_synth (default: build)
#     -m  who gets USR1: both ranks (kill, as scancel --signal does), one rank, mpirun (which forwards it
#         to the ranks), a random choice per iteration (default mix), or none (a control: no signal, the
#         run must finish)
#     -k  keep going after a failure (default: stop at the first one, files kept)
#     -x  extra environment for the ranks, e.g. 'MALLOC_CHECK_=3 MALLOC_PERTURB_=165' or ASAN_OPTIONS=...
# Prints one line per iteration and a summary: iterations, failures by kind (crash = a rank died on a
# signal or an allocator/sanitizer report in the output).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
iters=50 bin=$src/build mode=mix keep=0 xenv=""
while getopts "n:b:m:kx:" o; do
  case $o in
    n) iters=$OPTARG ;; b) bin=$(cd "$OPTARG" && pwd) ;; m) mode=$OPTARG ;; k) keep=1 ;; x) xenv=$OPTARG ;;
    *) echo "usage: stress_preempt.sh [-n ITER] [-b BUILD] [-m both|one|mpirun|mix] [-k] [-x ENV]" >&2; exit 2 ;;
  esac
done
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed"; exit 77; }
command -v h5diff >/dev/null || { echo "SKIP: h5diff not installed"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-stress.XXXXXX")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$bin/tests/apt_synth" "$work/data" 8 16 8
steps=150
train=("$src/configs/quickstart.yaml" data.root="$work/data" out_dir="$work/runs" model.width=16 model.embed_dim=32
       data.batch_size=64 data.samples_per_class=8 schedule.max_steps=$steps logging.every_steps=5
       checkpoint.every_epochs=0 data.threads=1)
envx=()
for kv in $xenv; do envx+=(-x "$kv"); done
run() { mpirun --oversubscribe -np 2 "${envx[@]}" "$bin/aptrain" "$@"; }

# Reference: uninterrupted.
run "${train[@]}" run_name=ref >"$work/ref.out" 2>&1 || { cat "$work/ref.out"; echo "FAIL: reference run"; exit 1; }
ref=$work/runs/ref/checkpoints/latest.h5

# A crash: a rank died on a signal, or glibc / a sanitizer reported on the heap.
is_crash() { grep -qE 'malloc\(\)|free\(\)|corrupted|double free|AddressSanitizer|ThreadSanitizer|runtime error|Segmentation|Aborted|signal [0-9]+ \((Abort|Segm)|exited on signal|SIG(SEGV|ABRT|BUS)' "$1"; }

declare -A fails=()
nfail=0 t0=$(date +%s)
for i in $(seq 1 "$iters"); do
  name=p$i
  m=$mode
  [ "$m" = mix ] && m=$(shuf -n1 -e both both one mpirun)
  # When: once metrics.jsonl reports step >= at (every 5 steps), plus 0..39 ms (a step takes ~5-20 ms), so the
  # signal lands anywhere in a step, early or late in the run.
  at=$(( (1 + RANDOM % 28) * 5 )) delay=$(awk -v r=$RANDOM 'BEGIN{printf "%.3f", (r % 40) / 1000.0}')
  mpirun --oversubscribe -np 2 "${envx[@]}" "$bin/aptrain" "${train[@]}" run_name=$name >"$work/$name.out" 2>&1 &
  mp=$! # mpirun itself (not a subshell): its children are the ranks
  m_file=$work/runs/$name/metrics.jsonl
  until grep -qE "\"step\":$at[,}]" "$m_file" 2>/dev/null; do kill -0 "$mp" 2>/dev/null || break; sleep 0.005; done
  sleep "$delay"
  ranks=$(pgrep -P "$mp" -x aptrain | tr '\n' ' ')
  case $m in
    both) [ -n "$ranks" ] && kill -USR1 $ranks 2>/dev/null ;;
    one) r=$(tr ' ' '\n' <<<"$ranks" | grep . | shuf -n1); [ -n "$r" ] && kill -USR1 "$r" 2>/dev/null ;;
    mpirun) kill -USR1 "$mp" 2>/dev/null ;;
    none) ;;
  esac
  rc=0; wait "$mp" || rc=$?
  verdict=ok
  if is_crash "$work/$name.out"; then
    verdict=crash
  elif [ "$rc" -eq 75 ]; then
    # Pre-empted: resume and finish, bitwise equal to the reference.
    if ! run "${train[@]}" run_name=$name resume=auto >"$work/$name.resume.out" 2>&1; then
      is_crash "$work/$name.resume.out" && verdict=crash || verdict=resume-failed
    else
      for g in /params /buffers /optim; do
        h5diff -q "$ref" "$work/runs/$name/checkpoints/latest.h5" "$g" >/dev/null 2>&1 || verdict=differs
      done
    fi
  elif [ "$rc" -eq 0 ]; then
    verdict=finished
    [ "$m" = none ] && ! h5diff -q "$ref" "$work/runs/$name/checkpoints/latest.h5" /params >/dev/null 2>&1 && verdict=differs # the signal came too late (after the last step boundary) or missed the ranks
  else
    verdict=rc$rc
  fi
  printf '[stress %4ds] %3d/%d  %-6s at step %3d + %ss: rc %-3s %s\n' "$(( $(date +%s) - t0 ))" "$i" "$iters" "$m" "$at" "$delay" "$rc" "$verdict"
  case $verdict in
    ok|finished) rm -rf "$work/runs/$name" "$work/$name.out" "$work/$name.resume.out" ;;
    *)
      fails[$verdict]=$(( ${fails[$verdict]:-0} + 1 )); nfail=$((nfail + 1))
      grep -hE 'malloc|corrupt|Sanitizer|ERROR|error|lost rank|signal' "$work/$name.out" "$work/$name.resume.out" 2>/dev/null | head -8
      [ "$keep" -eq 1 ] || break ;;
  esac
done
summary="stress_preempt: $i iterations, $nfail failed"
for k in "${!fails[@]}"; do summary+=" ($k: ${fails[$k]})"; done
echo "$summary; files in $work"
[ "$nfail" -eq 0 ] && rm -rf "$work"
[ "$nfail" -eq 0 ]
