#!/usr/bin/env bash
# scale_rehearsal.sh — the whole pipeline at the real dataset counts (issue 21 §2–3), each stage timed with
# its peak memory: a synthetic download (tests/bench/gen_scale_dataset.c: the real layout and counts, tiny
# JPEGs), `aprep` (uninterrupted, and a second run killed mid-write then `--resume`d, whose output must
# equal the first byte for byte), `aprep verify`, the loader (time to the first batch, images/CPU-s),
# `aptrain check`, training on 2 ranks (small CNN at 64x64, the recipe's global batch, `train.chunk`),
# the same training pre-empted (SIGUSR1) half-way and resumed (final checkpoint must equal the
# uninterrupted one bitwise), and the full evaluation of the test split (every query against the whole
# split) with the leaderboard and saved embeddings.
#
#   tests/bench/scale_rehearsal.sh [--dataset inaturalist|vggface2] [--fraction F] [--steps S]
#                                  [--work DIR] [--embed-dim D] [--src DIR] [--aprep-once] [--keep]
#
# --fraction F scales images and classes (1 = the real counts); --steps S training steps (default 300;
# the resume test stops at S/2); --work DIR where everything goes (default /tmp/apt_scale_<dataset>_<F>,
# removed at the end unless --keep); --src DIR: use a download gen_scale_dataset wrote earlier (same
# dataset and fraction; kept), instead of generating one into DIR/src; --aprep-once: no uninterrupted
# reference run (at 3.3M images it costs as much as the other two together): aprep is killed half-way and
# resumed, both timed (stages aprep_killed, aprep_resume), and verify checks the result; binaries from $APT_BINARY_DIR (default ./build). Writes
# DIR/results.md (one table row per stage: wall, CPU, peak RSS, rows/CPU-s) and prints it. Exit 0 when
# every stage ran and every check held (resume equal, leaderboard written), else 1.
# Timing: /usr/bin/time -v; under mpirun, CPU is all ranks' and the peak RSS is the largest process's.
set -euo pipefail
dataset=inaturalist fraction=0.01 steps=300 work="" keep=0 embed=512 given_src="" once=0
while [ $# -gt 0 ]; do
    case "$1" in
    --dataset) dataset="$2"; shift 2 ;;
    --fraction) fraction="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --embed-dim) embed="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --aprep-once) once=1; shift ;;
    --src) given_src="$(cd "$2" && pwd)"; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "scale_rehearsal: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$dataset" in inaturalist | vggface2) ;; *) echo "scale_rehearsal: --dataset inaturalist|vggface2" >&2; exit 2 ;; esac
src="${APT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin="$(cd "${APT_BINARY_DIR:-$src/build}" && pwd)"
work="${work:-/tmp/apt_scale_${dataset}_${fraction}}"
for b in gen_scale_dataset aprep aptrain bench_loader; do
    [ -x "$bin/$b" ] || [ -x "$bin/tests/$b" ] || { echo "scale_rehearsal: $b not built in $bin" >&2; exit 1; }
done
gen="$bin/gen_scale_dataset"; [ -x "$gen" ] || gen="$bin/tests/gen_scale_dataset"
bl="$bin/bench_loader"; [ -x "$bl" ] || bl="$bin/tests/bench_loader"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export HDF5_USE_FILE_LOCKING=FALSE
rm -rf "$work"
mkdir -p "$work"
res="$work/results.tsv"
: > "$res"
fail=0
note() { echo "scale_rehearsal: $*"; echo "# $*" >> "$work/notes.txt"; }

# stage NAME ROWS CMD...: run CMD under /usr/bin/time, log to DIR/NAME.log, append a row. Status kept in $rc.
stage() {
    local name="$1" rows="$2"
    shift 2
    echo "scale_rehearsal: [$name] $*"
    set +e
    /usr/bin/time -v -o "$work/$name.time" "$@" > "$work/$name.log" 2>&1
    rc=$?
    set -e
    local wall user sys rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/$name.time")
    user=$(awk -F': ' '/User time/ {print $2}' "$work/$name.time")
    sys=$(awk -F': ' '/System time/ {print $2}' "$work/$name.time")
    rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/$name.time")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$user" "$sys" "$rss" "$rows" "$rc" >> "$res"
    if [ "$rc" -ne 0 ]; then echo "scale_rehearsal: [$name] exit $rc; tail of $work/$name.log:"; tail -5 "$work/$name.log"; fi
}
need_ok() { if [ "$rc" -ne 0 ]; then fail=1; note "FAIL: $1 (exit $rc)"; fi; }

t_start=$(date +%s)
# ---- 1. the synthetic download ----
srcdir="$work/src"
if [ -n "$given_src" ]; then
    srcdir="$given_src"
    grep -q "$dataset .*fraction $fraction," "$srcdir/GENERATED.txt" ||
        { echo "scale_rehearsal: $srcdir is not a $dataset download at fraction $fraction" >&2; exit 2; }
    cp "$srcdir/GENERATED.txt" "$work/generate.log"
    note "download generated earlier: $srcdir"
else
    stage generate 0 nice -n 19 "$gen" "$dataset" "$srcdir" --fraction "$fraction" --threads 2
    need_ok "gen_scale_dataset"
fi
cat "$work/generate.log"
ntrain=$(awk '/ train: / {print $4}' "$work/generate.log")
ntest=$(awk '/ test: / {print $4}' "$work/generate.log")
ktrain=$(awk '/ train: / {print $7}' "$work/generate.log")
total=$((ntrain + ntest))
shard=10000
[ "$total" -lt 200000 ] && shard=1000
[ "$total" -lt 20000 ] && shard=200

# ---- 2. aprep: uninterrupted; then killed mid-write and resumed (same bytes) ----
out2="$work/data2" threads_killed=1
if [ "$once" = 0 ]; then
    stage aprep "$total" "$bin/aprep" "$dataset" --shard-size "$shard" "$srcdir" "$work/data"
    need_ok "aprep"
else
    out2="$work/data" threads_killed=2
fi
# killed run: SIGKILL once about half of the train shards are complete, then --resume
ntr_shards=$(( (ntrain + shard - 1) / shard ))
half=$(( ntr_shards / 2 )); [ "$half" -lt 1 ] && half=1
# (--threads 1 beside a reference run: the output does not depend on it, and a small fraction then runs
# long enough to be killed)
/usr/bin/time -v -o "$work/aprep_killed.time" "$bin/aprep" "$dataset" --threads "$threads_killed" --shard-size "$shard" \
    "$srcdir" "$out2" > "$work/aprep_killed.log" 2>&1 &
tpid=$!
killed=0
shopt -s nullglob
while kill -0 "$tpid" 2> /dev/null; do
    done_shards=("$out2".partial/train-*.h5) # complete shards only: a shard being written is *.part
    if [ "${#done_shards[@]}" -ge "$half" ]; then
        kill -KILL $(pgrep -P "$tpid") 2> /dev/null; killed=1; break # aprep: the child of /usr/bin/time
    fi
    sleep 0.01
done
shopt -u nullglob
wait "$tpid" 2> /dev/null || true
if [ "$killed" = 1 ]; then
    printf 'aprep_killed\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/aprep_killed.time")" \
        "$(awk -F': ' '/User time/ {print $2}' "$work/aprep_killed.time")" "$(awk -F': ' '/System time/ {print $2}' "$work/aprep_killed.time")" \
        "$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/aprep_killed.time")" 0 killed >> "$res"
    note "aprep killed (SIGKILL) with $(find "$out2.partial" -maxdepth 1 -name 'train-*.h5' | wc -l) of $ntr_shards train shards complete"
    stage aprep_resume "$total" "$bin/aprep" "$dataset" --resume --shard-size "$shard" "$srcdir" "$out2"
    need_ok "aprep --resume"
    kept=$(awk '/already in complete shards/ {print $0; exit}' "$work/aprep_resume.log")
    note "resume: ${kept:-no samples reused}"
    if [ "$once" = 1 ]; then
        note "no uninterrupted reference run (--aprep-once): aprep verify checks the resumed output"
    elif diff -r -q "$work/data" "$work/data2" > "$work/resume_diff.txt" 2>&1; then
        note "aprep --resume output equals the uninterrupted run's byte for byte ($(ls "$work/data" | wc -l) files)"
    else
        fail=1; note "FAIL: aprep --resume output differs: $(head -3 "$work/resume_diff.txt")"
    fi
else
    fail=1; note "FAIL: aprep finished before it could be killed (no resume test)"
fi
rm -rf "$work/data2" "$work/data2.partial"

# ---- 3. verify ----
stage verify "$total" "$bin/aprep" verify "$work/data"
need_ok "aprep verify"

# ---- 4. loader: first batch and images per CPU-second (train: augment; eval: the test split) ----
B=384 m=4
if [ $((ktrain * 1)) -lt 96 ]; then B=$(( (ktrain / 2) * 4 )); fi # tiny fractions: fewer classes than 96
stage loader $((B * 40 * 2)) "$bl" --dir "$work/data" --batch "$B" --m "$m" --images $((B * 40)) --threads 2 \
    --resize 72 --crop 64 --augment 1
need_ok "bench_loader"

# ---- 5. aptrain check, training, pre-empted training + resume, evaluation ----
protocol="$dataset"; rk="[1, 4, 16, 32]"; pre="mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]"
if [ "$dataset" = vggface2 ]; then rk="[1, 5, 10]"; pre="preprocess: vggface2"; fi
half_steps=$((steps / 2))
log_every=$((half_steps / 2)); [ "$log_every" -gt 10 ] && log_every=10; [ "$log_every" -lt 1 ] && log_every=1
cat > "$work/scale.yaml" << EOF
# scale rehearsal: small CNN at 64x64, the recipe's global batch ($B = $((B / m)) classes x $m), train.chunk
run_name: scale
out_dir: $work/runs
seed: 1
device: cpu
resume: never
model: {arch: smallcnn, embed_dim: $embed, width: 16, bn: frozen}
data: {root: $work/data, sampler: epoch, batch_size: $B, samples_per_class: $m, threads: 1, prefetch: 2,
       resize: 72, crop: 64, augment: true, $pre}
loss: {name: smoothap, tau: 0.01}
optim: {name: adam, lr: 1e-4}
schedule: {name: constant, max_steps: $steps}
train: {chunk: $((B / 4))}
eval: {every_epochs: 0, recall_k: $rk, batch_size: 256, protocol: $protocol,
       published: $src/configs/published.yaml, save_embeddings: true}
checkpoint: {every_steps: $half_steps, keep: 2}
logging: {every_steps: $log_every}
dist: {timeout_io_s: 3600}
EOF
stage check 0 "$bin/aptrain" check "$work/scale.yaml" --world 2
need_ok "aptrain check"
mpi=(mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -x HDF5_USE_FILE_LOCKING)
stage train $((B * steps)) "${mpi[@]}" "$bin/aptrain" "$work/scale.yaml"
need_ok "training"
# pre-empted run: SIGUSR1 to mpirun (forwarded to the ranks) once the run passes half its steps
"${mpi[@]}" "$bin/aptrain" "$work/scale.yaml" run_name=scale_pre > "$work/train_preempted.log" 2>&1 &
pid=$!
sent=0
while kill -0 "$pid" 2> /dev/null; do
    last=$(grep -o '"step": *[0-9]*' "$work/runs/scale_pre/metrics.jsonl" 2> /dev/null | tail -1 | grep -o '[0-9]*$' || true)
    if [ -n "$last" ] && [ "$last" -ge "$half_steps" ]; then kill -USR1 "$pid"; sent=1; break; fi
    sleep 0.5
done
set +e; wait "$pid"; prc=$?; set -e
note "pre-empted run: SIGUSR1 sent=$sent after step ${last:-?}, exit $prc (75 = checkpoint written, requeue)"
[ "$sent" = 1 ] && [ "$prc" = 75 ] || { fail=1; note "FAIL: the pre-emption did not end with status 75"; }
stage train_resume $((B * steps)) "${mpi[@]}" "$bin/aptrain" "$work/scale.yaml" run_name=scale_pre resume=auto
need_ok "resumed training"
if /usr/bin/python3 - "$work/runs/scale/checkpoints/latest.h5" "$work/runs/scale_pre/checkpoints/latest.h5" > "$work/resume_compare.txt" 2>&1 << 'EOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
bad = [n for n in names if n.split("/")[0] in ("params", "buffers", "optim")
       and (n not in b or a[n].shape != b[n].shape or a[n][()].tobytes() != b[n][()].tobytes())]
steps = (a.attrs.get("step"), b.attrs.get("step"))
print(f"{len(names)} datasets, {len(bad)} differ; step {steps[0]} vs {steps[1]}", bad[:5])
sys.exit(1 if bad or not any(n.split('/')[0] == 'params' for n in names) else 0)
EOF
then note "resumed training equals the uninterrupted run bitwise: $(cat "$work/resume_compare.txt")"
else fail=1; note "FAIL: resumed run differs: $(cat "$work/resume_compare.txt")"; fi
first_step=$(grep -m1 -o 'step *1/[0-9]*' "$work/train.log" || true)
stage eval "$ntest" "${mpi[@]}" "$bin/aptrain" eval "$work/scale.yaml" --checkpoint "$work/runs/scale/checkpoints/latest.h5"
need_ok "evaluation"
if [ -s "$work/runs/scale/leaderboard.md" ] && [ -s "$work/runs/scale/leaderboard.json" ]; then
    note "leaderboard written: $(grep -m1 -i 'ours\|scale' "$work/runs/scale/leaderboard.md" | head -c 300)"
else fail=1; note "FAIL: no leaderboard"; fi
ls "$work/runs/scale"/*.h5 "$work/runs/scale"/eval* > "$work/eval_files.txt" 2> /dev/null || true

# ---- the table ----
{
    echo "### $dataset, fraction $fraction: $ntrain train + $ntest test images, $ktrain train classes"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc --all) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); global batch $B, $steps steps, embed dim $embed, shard size $shard; total $(( $(date +%s) - t_start )) s"
    echo
    echo "| stage | wall (s) | CPU (s) | peak RSS (MiB) | rows | rows / CPU-s | exit |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{cpu=$3+$4; r=($6>0 && cpu>0)? sprintf("%.0f", $6/cpu) : "–"; printf "| %s | %.1f | %.1f | %s | %s | %s | %s |\n", $1, $2, cpu, $5, $6, r, $7}' "$res"
    echo
    sed 's/^# /- /' "$work/notes.txt"
    echo
    echo "Logs (check's estimates; loader; last training progress lines; evaluations):"
    echo
    { grep -h "estimated" "$work/check.log" || true; } | sed 's/^/    /'
    { grep -h "images/CPU-second" -A2 "$work/loader.log" || true; } | sed 's/^/    /'
    for f in train train_preempted train_resume; do
        { grep -h "step .*img/s" "$work/$f.log" || true; } | tail -1 | sed "s/^/    $f: /"
        { grep -h "^eval step" "$work/$f.log" || true; } | tail -1 | sed "s/^/    $f: /"
    done
    { grep -h "^eval step" "$work/eval.log" || true; } | tail -1 | sed 's/^/    eval: /'
} > "$work/results.md"
cat "$work/results.md"
if [ "$keep" = 0 ] && [ "$fail" = 0 ]; then rm -rf "$work/src" "$work/data" "$work/runs"; fi
exit "$fail"
