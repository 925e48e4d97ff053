#!/usr/bin/env bash
# test_lost_rank.sh kill|stop SEED — a 2-rank training under mpirun loses rank 1 at a seeded random step
# (SIGKILL: it dies; SIGSTOP: it hangs). Rank 0 must exit within 60 s with exactly one line naming rank 1
# and the step (also in the run's log.txt), mpirun must end with a nonzero status, no process of the job
# may remain, and latest.h5 must still be a complete checkpoint (a fresh run resumes from it, checksums
# verified).
# Environment: APT_SOURCE_DIR, APT_BINARY_DIR (ctest sets them).
set -euo pipefail
mode=${1:?kill|stop} seed=${2:?seed}
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-lost.XXXXXX")
t0=$(date +%s.%N)
say() { printf '[test_lost_rank %s %5.1fs] %s\n' "$mode" "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && { kill -CONT "$p"; kill -KILL "$p"; } 2>/dev/null; done
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "test_lost_rank: FAILED (rc $rc); files kept in $work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' INT TERM

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$bin/tests/apt_synth" "$work/data" 8 16 8
RANDOM=$seed
at=$(( 15 + RANDOM % 30 ))
run=$work/runs/lost
args=("$src/configs/quickstart.yaml" data.root="$work/data" out_dir="$work/runs" run_name=lost model.width=16
      model.embed_dim=32 data.batch_size=64 data.samples_per_class=8 schedule.max_steps=100000 logging.every_steps=1
      checkpoint.every_epochs=1 data.threads=1 dist.heartbeat_s=15)   # an epoch is 2 steps: kills often land in a write
mpirun --oversubscribe -np 2 "$bin/aptrain" "${args[@]}" >"$work/out.txt" 2>&1 &
mpirun_pid=$!
pids+=("$mpirun_pid")

hb_field() { sed -nE "s/.* $2=([0-9]+) .*/\1/p" "$run/heartbeat/rank-0000$1" 2>/dev/null || true; }
for _ in $(seq 1200); do
  s=$(hb_field 1 step); [ -n "$s" ] && [ "$s" -ge "$at" ] && break
  kill -0 "$mpirun_pid" 2>/dev/null || { cat "$work/out.txt"; echo "FAIL: training ended early"; exit 1; }
  sleep 0.1
done
r0=$(hb_field 0 pid) r1=$(hb_field 1 pid)
pids+=("$r0" "$r1")
[ -n "$r0" ] && [ -n "$r1" ] || { echo "FAIL: no heartbeat pids"; exit 1; }
sig=KILL; [ "$mode" = stop ] && sig=STOP
say "rank 1 (pid $r1) at step $(hb_field 1 step) >= $at: SIG$sig"
kill -"$sig" "$r1"
t_sig=$(date +%s.%N)
for _ in $(seq 900); do kill -0 "$r0" 2>/dev/null || break; sleep 0.1; done
dt=$(echo "$(date +%s.%N) - $t_sig" | bc)
kill -0 "$r0" 2>/dev/null && { tail -20 "$work/out.txt"; echo "FAIL: rank 0 still running ${dt}s after SIG$sig of rank 1"; exit 1; }
say "rank 0 exited ${dt}s after the signal"
rc=0; wait "$mpirun_pid" || rc=$?
say "mpirun exited with status $rc"
[ "$rc" -ne 0 ] || { echo "FAIL: mpirun exited 0"; exit 1; }
(( $(echo "$dt < 60" | bc) )) || { echo "FAIL: rank 0 took ${dt}s (> 60 s)"; exit 1; }
# No orphans: mpirun may return before a rank it signalled is gone (a stopped rank gets SIGCONT and SIGTERM,
# and its own watchdog then finds rank 0 gone); allow 15 s.
for p in "$r0" "$r1"; do
  for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && { ps -o pid,stat,cmd -p "$p"; echo "FAIL: pid $p of the job is still there"; exit 1; }
done
say "no process of the job left"
lines=$(grep -E '^aptrain: \[rank 0 [^]]*\] (lost rank 1|step [0-9]+ did not finish)' "$work/out.txt" || true)
echo "$lines"
[ "$(grep -c . <<<"$lines")" -eq 1 ] || { cat "$work/out.txt"; echo "FAIL: want exactly one line from rank 0 naming the lost rank"; exit 1; }
grep -qE 'lost rank 1 .*during (step|the (checkpoint|evaluation) after step) [0-9]+' <<<"$lines" ||
  { echo "FAIL: the line does not name rank 1 and the step"; exit 1; }
grep -qxF "error: ${lines#aptrain: }" "$run/log.txt" ||
  { tail -5 "$run/log.txt"; echo "FAIL: rank 0's line is not in $run/log.txt"; exit 1; }
step=$(grep -oE 'during (step|the [a-z]+ after step) [0-9]+' <<<"$lines" | grep -oE '[0-9]+$' || true)
[ "$step" -gt "$at" ] || { echo "FAIL: names step $step, not after the signal at >= $at steps done"; exit 1; }

# The last good checkpoint is intact: a new single-process run resumes from it (names, shapes, checksums).
"$bin/aptrain" "${args[@]}" schedule.max_steps=1 >"$work/resume.txt" 2>&1 ||
  { cat "$work/resume.txt"; echo "FAIL: latest.h5 does not resume"; exit 1; }
grep -oE 'resumed from .*latest\.h5 at step [0-9]+' "$work/resume.txt" || { cat "$work/resume.txt"; echo "FAIL: no resume"; exit 1; }
say "PASS"
