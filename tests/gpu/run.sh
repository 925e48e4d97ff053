#!/usr/bin/env bash
# run.sh — the GPU check in one command, on a GPU host, from the repository root:
#
#     tests/gpu/run.sh LOGDIR [--total S] [--budget S] [--opt-budget S] [--prefix DIR] [--no-default]
#                             [--changed] [--train] [--bf16] [--racecheck] [--two-ranks] ...
#
# Needs .gpubin/aptgpu.tar.xz (tests/gpu/pack.sh on the Debian build machine; carry .gpubin). The host
# provides the CUDA driver, cudart/cuBLAS/cuDNN/NCCL (toolkit or PyTorch's pip wheels), glibc and
# libstdc++; everything else comes from the archive, unpacked at --prefix (default $TMPDIR/aptgpu),
# never at the build machine's paths.
# Time: ONE deadline for the whole call, --total seconds (default 420, so a rerun fits a 15-minute
# device window); no combination of options runs past it. Each pass (the default pass, each option)
# also has its own budget (--budget, default 240; --opt-budget, default 300) counted from its start, and
# gets no more than what is left of the total; every step has its own cap within that, and a step with
# no time left is reported SKIP "time budget spent" (never run without a limit).
# Always: device (nvidia-smi, driver, nvcc, python3/torch/cuDNN versions, compute-sanitizer), unpack
# (the archive at the prefix), libs (LD_LIBRARY_PATH = the archive's folders + the host's CUDA
# folders; `ldd` of every binary), aptrain (`aptrain --version` loads and runs). Then the steps:
#   default pass  every single-rank test labelled gpu (run directly: ctest files hold build paths),
#                 bench_loss, resnet50_fp32_b128, memcheck:test_backend_ops_cuda, memcheck:test_loss_cuda,
#                 bench_nccl (racecheck is not in it: 60 s did not finish a test on the H200)
#   --changed     only the steps tests/gpu/changed.txt names (what changed since the last recorded GPU
#                 run; tests/gpu/changed.sh lists the files); implies --no-default
#   --train       train_resnet50, resnet50_fp32_b128, resnet50_fp32_b256
#   --bf16        resnet50_bf16_b128, resnet50_bf16_b256
#   --racecheck   racecheck:test_loss_cuda, racecheck:test_backend_ops_cuda (240 s each)
#   --two-ranks   two_ranks
#   --no-default  leaves the default pass out; an unknown --NAME is reported "not available yet"
# Step names (also the vocabulary of changed.txt):
#   TEST                 a single-rank gpu test binary of the archive (gpu-tests.txt), 90 s
#   train_resnet50       test_train_cuda --arch resnet50 --size 64 --channels 3: ResNet-50 training, cuda
#                        vs cpu, 5 SGD steps, against a perturbed-cpu floor (240 s)
#   resnet50_PREC_bN     ResNet-50 224x224 batch N (128 or 256), frozen BN, Smooth-AP (tau 0.01, m 4),
#                        fwd+loss+bwd+SGD (momentum 0.9), aptrain (bench_resnet_cuda --PREC --step) beside
#                        the host's PyTorch in the same call (bench_resnet_torch.py): PREC fp32 = TF32 off
#                        on both sides, eager; PREC bf16 = our bf16 activation chain vs AMP bf16 +
#                        channels_last, eager, and torch.compile at batch 128 only (its compilation takes
#                        about a minute per batch size, which the 420 s total cannot pay twice); batch
#                        128 adds our per-op profile (bench_resnet_cuda --profile 5) and PyTorch's top-15 CUDA
#                        kernels (--profile); the ratios go to the figures
#   bench_loss           fused Smooth-AP / PNP-D_q loss, B = 4096..65536, D 512, m 4 (bench_loss_cuda)
#   bench_nccl           the bucketed all-reduce machinery on 1 rank
#   two_ranks            the multi-rank gpu tests (gpu-mpi-tests.txt) under the archive's mpirun, all ranks
#                        on the one GPU: test_two_ranks_cuda (-np 2, dist.backend mpi) == 1 rank, test_buckets
#                        (tests/gpu/steps/two_ranks.sh; without a device their CPU twins on the guard backend)
#   memcheck:TEST, racecheck:TEST   compute-sanitizer on a test binary (60 s; racecheck 240 s)
# CPU sides (the CPU references inside the tests, test_train_cuda's cpu runs) get OMP_NUM_THREADS =
# the host's cores (nproc; APT_GPU_THREADS overrides).
# Writes LOGDIR/summary.md (PASS/FAIL/SKIP per step, figures) and one log per step; prints the summary.
# Without a device every GPU step reports "skipped: no device" (exit 0); a missing library or a binary
# that does not load is a FAIL. Exit 0 when no step failed, 1 otherwise, 2 on a usage error.
set -uo pipefail
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)" || { echo "run.sh: no project root" >&2; exit 2; }
cd "$root" || exit 2

LOG="" TOTAL=420 BUDGET=240 OPT_BUDGET=300 PREFIX="${TMPDIR:-/tmp}/aptgpu" DEFAULT=1 OPTS=()
secs() { [[ $2 =~ ^[0-9]+$ ]] || { echo "run.sh: $1 needs whole seconds (got '$2')" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --total) TOTAL="${2:-}"; secs --total "$TOTAL"; shift ;;
    --budget) BUDGET="${2:-}"; secs --budget "$BUDGET"; shift ;;
    --opt-budget) OPT_BUDGET="${2:-}"; secs --opt-budget "$OPT_BUDGET"; shift ;;
    --prefix) PREFIX="${2:?--prefix needs a folder}"; shift ;;
    --no-default) DEFAULT=0 ;;
    --changed) DEFAULT=0; OPTS+=(changed) ;;
    --*) OPTS+=("${1#--}") ;;
    *) [ -z "$LOG" ] || { echo "run.sh: one LOGDIR only ('$LOG', '$1')" >&2; exit 2; }; LOG="$1" ;;
    esac
    shift
done
LOG="${LOG:-${OUT:-$root/build/gpu-logs}}"
mkdir -p "$LOG" || { echo "run.sh: cannot create $LOG" >&2; exit 2; }
LOG="$(cd "$LOG" && pwd)"
ARCHIVE="${APT_GPU_ARCHIVE:-$root/.gpubin/aptgpu.tar.xz}"
T_START=$SECONDS
T_END=$((SECONDS + TOTAL)) # the one deadline of the whole call
PASS_END=$T_END            # the current pass's (set at each pass's start, never past T_END)
SUM="$LOG/summary.md"
ROWS=() FIGS=() NFAIL=0 NPASS=0 NSKIP=0

# ---- bookkeeping ----
# record STEP STATUS DETAIL [LOGFILE]: one row of the summary; the summary is rewritten after every
# step, so a run cut short still leaves one.
record() {
    ROWS+=("| $1 | $2 | ${3//|//} | ${4:-} |")
    case "$2" in PASS) NPASS=$((NPASS + 1)) ;; FAIL) NFAIL=$((NFAIL + 1)) ;; *) NSKIP=$((NSKIP + 1)) ;; esac
    printf 'run.sh: %-28s %s  %s\n' "$1" "$2" "$3"
    write_summary
}
figure() { FIGS+=("$@"); }
write_summary() {
    {
        echo "# aptrain GPU check: $(date -u '+%Y-%m-%d %H:%M UTC'), host $(hostname 2> /dev/null || echo '?')"
        echo
        echo "- archive: ${ARCH_INFO:-?}"
        echo "- device: ${DEV_INFO:-?}"
        echo "- options: ${OPTS[*]:-(none)}$([ "$DEFAULT" -eq 1 ] && echo ' + the default pass'); total ${TOTAL} s for the call (default pass ${BUDGET} s, each option ${OPT_BUDGET} s, within the total); CPU threads ${OMP_NUM_THREADS:-?}"
        echo
        echo "| step | result | detail | log |"
        echo "|---|---|---|---|"
        printf '%s\n' "${ROWS[@]}"
        if [ ${#FIGS[@]} -gt 0 ]; then
            echo
            echo "## Figures"
            echo
            printf '%s\n' "${FIGS[@]}"
        fi
        echo
        echo "RESULT: $([ $NFAIL -eq 0 ] && echo PASS || echo FAIL) ($NPASS passed, $NFAIL failed, $NSKIP skipped) in $((SECONDS - T_START)) s"
    } > "$SUM.tmp" && mv "$SUM.tmp" "$SUM"
}
# left: seconds to the nearer of the pass's end and the call's end, less 5 for timeout's kill grace
left() {
    local end=$PASS_END
    [ "$T_END" -lt "$end" ] && end=$T_END
    echo $((end - SECONDS - 5))
}
# cap WANT: seconds a step may take (WANT, or what is left); 0 when less than 10 s is left. Every caller
# checks for 0 and records SKIP "time budget spent": `timeout 0` would mean no limit at all.
cap() {
    local l
    l=$(left)
    if [ "$l" -lt 10 ]; then echo 0; elif [ "$1" -lt "$l" ]; then echo "$1"; else echo "$l"; fi
}
# pass_start BUDGET: a pass of at most BUDGET seconds from now, within the call's total
pass_start() {
    PASS_END=$((SECONDS + $1))
    [ "$PASS_END" -gt "$T_END" ] && PASS_END=$T_END
    return 0
}
# run_capped SECONDS LOGFILE CMD...: RC (124 = timed out), DUR
run_capped() {
    local c=$1 f=$2 t0=$SECONDS
    shift 2
    echo "\$ $*" >> "$f"
    timeout -k 5 "$c" "$@" < /dev/null >> "$f" 2>&1
    RC=$?
    DUR=$((SECONDS - t0))
    echo "[exit $RC after ${DUR} s]" >> "$f"
}
load_error() { grep -m1 -E 'error while loading shared libraries|cannot open shared object|symbol lookup error|version .GLIBC' "$1"; }
# verdict STEP LOGFILE: PASS/FAIL/SKIP of a test binary from RC (77 = the test's own skip)
verdict() {
    local e
    if [ "$RC" -eq 0 ]; then
        record "$1" PASS "${DUR} s$([ "$NGPU" -eq 0 ] && echo ' (no device: its CPU checks only)')" "$(basename "$2")"
    elif e=$(load_error "$2"); then
        record "$1" FAIL "does not load: $e" "$(basename "$2")"
    elif [ "$RC" -eq 77 ] && [ "$NGPU" -eq 0 ]; then
        record "$1" SKIP "skipped: no device" "$(basename "$2")"
    elif [ "$RC" -eq 77 ]; then
        record "$1" FAIL "skipped (exit 77) on a host with $NGPU GPU(s): $(grep -m1 SKIP "$2")" "$(basename "$2")"
    elif [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        record "$1" FAIL "timed out after ${DUR} s" "$(basename "$2")"
    else
        record "$1" FAIL "exit $RC: $(grep -v '^\[exit\|^\$ ' "$2" | tail -1 | cut -c1-160)" "$(basename "$2")"
    fi
}

# ---- device ----
NGPU=0
if command -v nvidia-smi > /dev/null 2>&1; then
    NGPU=$(timeout 20 nvidia-smi -L 2> /dev/null | grep -c '^GPU' || true)
fi
[ "$NGPU" -gt 0 ] 2> /dev/null || NGPU=0
PY=$(command -v python3 || true)
SANITIZER=$(command -v compute-sanitizer || true)
for s in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    [ -z "$SANITIZER" ] && [ -x "$s" ] && SANITIZER=$s
done
{
    echo "## nvidia-smi"; timeout 20 nvidia-smi 2>&1 || echo "(no nvidia-smi or it failed)"
    echo "## nvidia-smi -q (clocks, ECC, MIG)"; timeout 20 nvidia-smi -q -d CLOCK,ECC,COMPUTE 2>&1 | head -80 || true
    echo "## nvcc"; (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>&1 | tail -3
    echo "## compute-sanitizer: ${SANITIZER:-not found}"; [ -n "$SANITIZER" ] && timeout 20 "$SANITIZER" --version 2>&1 | tail -2
    echo "## uname / glibc"; uname -a; ldd --version 2>&1 | head -1
    echo "## nproc $(nproc), memory"; free -g 2>&1 | head -2
    echo "## python3: ${PY:-not found}"
    [ -n "$PY" ] && timeout 45 "$PY" - << 'EOF' 2>&1
import sys
print("python", sys.version.split()[0])
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
    print("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
    print("defaults: cudnn.allow_tf32", torch.backends.cudnn.allow_tf32, "matmul.allow_tf32",
          torch.backends.cuda.matmul.allow_tf32)
    print("nccl", torch.cuda.nccl.version())
except ImportError as e:
    print("torch: not importable:", e)
except Exception as e:
    print("torch: error:", e)
try:
    import torchvision
    print("torchvision", torchvision.__version__)
except Exception as e:
    print("torchvision: not importable:", e)
EOF
    true
} > "$LOG/device.log" 2>&1
if [ "$NGPU" -gt 0 ]; then
    DEV_INFO="$NGPU x $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | head -1)"
    DEV_INFO+="; $(grep -m1 '^torch ' "$LOG/device.log" || echo 'no torch')"
    record device PASS "$DEV_INFO" device.log
else
    DEV_INFO="no device (nvidia-smi $( command -v nvidia-smi > /dev/null && echo 'lists no GPU' || echo 'not found'))"
    record device SKIP "skipped: no device" device.log
fi

# ---- unpack (at the prefix; a previous copy is replaced) ----
unpack() {
    rm -rf "$PREFIX" && mkdir -p "$PREFIX" || { echo "cannot create $PREFIX"; return 1; }
    if command -v xz > /dev/null 2>&1; then
        tar -C "$PREFIX" -xJf "$ARCHIVE"
    elif [ -n "$PY" ]; then # no xz (slim images): Python's tarfile reads .tar.xz
        "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$ARCHIVE" "$PREFIX"
    else
        echo "neither xz nor python3 found to unpack $ARCHIVE"; return 1
    fi
}
if [ ! -f "$ARCHIVE" ]; then
    record unpack FAIL "no $ARCHIVE: run tests/gpu/pack.sh on the build machine and carry .gpubin"
    exit 1
fi
t0=$SECONDS
if unpack > "$LOG/unpack.log" 2>&1 && [ -f "$PREFIX/manifest.txt" ]; then
    ARCH_INFO="$(head -1 "$PREFIX/manifest.txt" | sed 's/^# //'), $(du -h "$ARCHIVE" | cut -f1) packed"
    record unpack PASS "$(du -sh "$PREFIX" | cut -f1) at $PREFIX in $((SECONDS - t0)) s" unpack.log
else
    record unpack FAIL "$(tail -1 "$LOG/unpack.log")" unpack.log
    exit 1
fi
BIN="$PREFIX/bin"

# ---- libs: the archive's folders first, then the host's CUDA libraries ----
host_cuda_dirs() {
    local d
    for d in ${CUDA_HOME:+$CUDA_HOME/lib64} /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -d "$d" ] && echo "$d"
    done
    # PyTorch's wheels: site-packages/nvidia/<pkg>/lib (CUDA 12 layout) or nvidia/cu13/lib (CUDA 13)
    [ -n "$PY" ] && timeout 30 "$PY" - << 'EOF' 2> /dev/null
import glob, os, site
sp = set(site.getsitepackages() + [site.getusersitepackages()])
dirs = set()
for s in sp:
    for pat in ("nvidia/*/lib", "nvidia/*/lib64", "nvidia/*/*/lib"):
        dirs.update(d for d in glob.glob(os.path.join(s, pat)) if glob.glob(os.path.join(d, "*.so*")))
print("\n".join(sorted(dirs)))
EOF
}
HOST_LD="${LD_LIBRARY_PATH:-}" # python3/torch run with the host's own environment
libpath=""
while read -r d; do [ -n "$d" ] && libpath+="$PREFIX/${d#/}:"; done < "$PREFIX/libdirs.txt"
# one entry per real folder (lib64 is often a link to lib)
mapfile -t cuda_dirs < <(host_cuda_dirs | while read -r d; do echo "$(realpath "$d" 2> /dev/null || echo "$d") $d"; done \
    | awk '!seen[$1]++ {print $2}')
for d in "${cuda_dirs[@]}"; do libpath+="$d:"; done
export LD_LIBRARY_PATH="${libpath%:}${HOST_LD:+:$HOST_LD}"
# Open MPI from the archive: relocated (OPAL_PREFIX), singleton without a daemon or ssh (a test started
# without mpirun), shared memory and self only, no network or InfiniBand components.
export OPAL_PREFIX="$PREFIX/usr"
export OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_plm=isolated OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The CPU sides (each test's CPU reference, test_train_cuda's cpu runs) use every core of the host (16 on
# the H200 host; 4 threads left most idle), not an inherited OMP_NUM_THREADS.
NTHREADS=${APT_GPU_THREADS:-$(nproc 2> /dev/null || echo 4)}
export OMP_NUM_THREADS=$NTHREADS OPENBLAS_NUM_THREADS=$NTHREADS
export HDF5_USE_FILE_LOCKING=FALSE APT_SOURCE_DIR="$root" APT_BINARY_DIR="$LOG/scratch"
mkdir -p "$APT_BINARY_DIR"
(
    echo "## LD_LIBRARY_PATH"; echo "$LD_LIBRARY_PATH" | tr ':' '\n'
    missing=0
    for f in "$BIN"/*; do
        out=$(ldd "$f" 2>&1)
        echo "## $(basename "$f")"
        echo "$out" | grep -E 'not found|cuda|cublas|cudnn|nccl|mpi\.so|stdc\+\+|libc\.so'
        echo "$out" | grep -q 'not found' && missing=1
    done
    exit $missing
) > "$LOG/libs.log" 2>&1
if [ $? -eq 0 ]; then
    record libs PASS "every library of $(ls "$BIN" | wc -l) binaries found ($(grep -m1 -o '=> [^ ]*libcudnn.so[^ ]*' "$LOG/libs.log" | sed 's/=> //'))" libs.log
else
    record libs FAIL "missing: $(grep 'not found' "$LOG/libs.log" | awk '{print $1}' | sort -u | tr '\n' ' ')" libs.log
fi

# ---- aptrain loads and runs ----
c=$(cap 30)
if [ "$c" -eq 0 ]; then
    record aptrain SKIP "time budget spent" # and so will every step below
else
    run_capped "$c" "$LOG/aptrain.log" "$BIN/aptrain" --version
    if [ "$RC" -eq 0 ]; then record aptrain PASS "$(grep -v '^\[exit\|^\$ ' "$LOG/aptrain.log" | head -1)" aptrain.log
    else verdict aptrain "$LOG/aptrain.log"; fi
fi


# ---- steps (run_step NAME dispatches; the names are those of the header and of changed.txt) ----
step_test() { # a gpu-labelled test binary, run directly
    local t=$1 c
    c=$(cap 90)
    [ "$c" -gt 0 ] || { record "$t" SKIP "time budget spent"; return; }
    run_capped "$c" "$LOG/$t.log" "$BIN/$t"
    verdict "$t" "$LOG/$t.log"
}

step_bench_loss() {
    local f="$LOG/bench_loss.log" c
    c=$(cap 30)
    [ "$c" -gt 0 ] || { record bench_loss SKIP "time budget spent"; return; }
    [ "$NGPU" -gt 0 ] || {
        run_capped "$c" "$f" "$BIN/bench_loss_cuda" --reps 1 1024 # loads; exits 77 without a device
        verdict bench_loss "$f"; return
    }
    for args in "--loss smoothap" "--loss smoothap --world 32" "--loss pnp-dq"; do
        c=$(cap 60)
        [ "$c" -gt 0 ] || { record bench_loss SKIP "time budget spent" bench_loss.log; return; }
        # shellcheck disable=SC2086
        run_capped "$c" "$f" "$BIN/bench_loss_cuda" $args --reps 5 4096 16384 65536
        [ "$RC" -eq 0 ] || break
    done
    verdict bench_loss "$f"
    figure "### fused loss (bench_loss_cuda, fp32)" '```' "$(grep -E '^(#|\|)' "$f")" '```'
}

# rows_rate FILE: "MODE RATE" per markdown row of images/s in FILE (MODE: aptrain, eager or compile)
rows_rate() {
    grep -E '^\| (aptrain|PyTorch)' "$1" | while IFS= read -r l; do
        local mode=aptrain r
        case "$l" in "| PyTorch"*", compile ("*) mode=compile ;; "| PyTorch"*) mode=eager ;; esac
        r=$(grep -oE '[0-9.]+ images/s' <<< "$l" | head -1 | awk '{print $1}')
        [ -n "$r" ] && echo "$mode $r"
    done
}

# peer KEY TITLE BATCH "APTRAIN ARGS" "TORCH ARGS" TORCH_CAP: bench_resnet_cuda at 224x224 with BATCH and
# APTRAIN ARGS (step KEY_aptrain), then the host's PyTorch with the same shape and TORCH ARGS (step
# KEY_torch, the host's own library path, not the archive's), in the same call on the same card; both
# sides' rows, the ratio per PyTorch mode and PyTorch's kernel profile (when asked) go to the figures.
peer() {
    local key=$1 title=$2 batch=$3 tcap=$6 h="$LOG/$1_aptrain.log" g="$LOG/$1_torch.log" c a t0 mode r
    local shape=(--batch "$batch" --size 224 --steps 10 --warmup 3) aargs targs
    read -ra aargs <<< "$4"
    read -ra targs <<< "$5"
    c=$(cap 90)
    [ "$c" -gt 0 ] || { record "${key}_aptrain" SKIP "time budget spent"; record "${key}_torch" SKIP "time budget spent"; return; }
    run_capped "$c" "$h" "$BIN/bench_resnet_cuda" "${shape[@]}" "${aargs[@]}"
    verdict "${key}_aptrain" "$h"
    a=$(rows_rate "$h" | awk '$1 == "aptrain" {print $2; exit}')
    if [ "$NGPU" -eq 0 ]; then record "${key}_torch" SKIP "skipped: no device"; return; fi
    if [ -z "$PY" ]; then record "${key}_torch" SKIP "no python3 on this host"; return; fi
    c=$(cap "$tcap")
    [ "$c" -gt 0 ] || { record "${key}_torch" SKIP "time budget spent"; return; }
    echo "\$ $PY tests/bench/bench_resnet_torch.py ${shape[*]} ${targs[*]}" >> "$g"
    t0=$SECONDS
    LD_LIBRARY_PATH="$HOST_LD" OMP_NUM_THREADS=$NTHREADS timeout -k 5 "$c" "$PY" tests/bench/bench_resnet_torch.py \
        "${shape[@]}" "${targs[@]}" < /dev/null >> "$g" 2>&1
    RC=$? DUR=$((SECONDS - t0))
    echo "[exit $RC after ${DUR} s]" >> "$g"
    if [ "$RC" -eq 77 ] && grep -q 'no torch' "$g"; then record "${key}_torch" SKIP "python3 has no torch" "$(basename "$g")"
    else verdict "${key}_torch" "$g"; fi
    figure "### $title" "| run | device | images/s |" "|---|---|---|" \
        "$(grep -m1 '^| aptrain' "$h" || echo "| aptrain | no figure (see $(basename "$h")) | |")" \
        "$(grep '^| PyTorch' "$g" || echo "| PyTorch | no figure (see $(basename "$g")) | |")"
    while read -r mode r; do
        [ "$mode" = aptrain ] && continue
        [ -n "$a" ] && figure "" "aptrain / PyTorch $mode = $(awk -v a="$a" -v t="$r" 'BEGIN {printf "%.2f", a / t}') ($a vs $r images/s)"
    done < <(rows_rate "$g")
    grep -q '^profile: ' "$h" && figure "" "#### aptrain per-op profile (bench_resnet_cuda --profile; train.profile_steps' table)" \
        "$(sed -n 's/^profile: //p' "$h")"
    grep -q '^#### PyTorch' "$g" && figure "" "$(sed -n '/^#### PyTorch/,/^$/p' "$g")"
}

# resnet50_PREC_bBATCH: the speed figures, each beside its PyTorch peer (see the header)
step_resnet50() {
    local key=$1 prec batch modes prof=""
    prec=${key#resnet50_} && prec=${prec%_b*} && batch=${key##*_b}
    case "$prec:$batch" in fp32:128 | fp32:256 | bf16:128 | bf16:256) ;; *)
        record "$key" FAIL "unknown step: resnet50_{fp32,bf16}_b{128,256}"; return ;;
    esac
    local aprof=""
    [ "$batch" = 128 ] && prof=" --profile" aprof=" --profile 5" # both sides' per-op / per-kernel tables
    if [ "$prec" = fp32 ]; then
        peer "$key" "ResNet-50 224x224 batch $batch training step, fp32 (TF32 off on both sides), frozen BN, Smooth-AP, fwd+loss+bwd+SGD" \
            "$batch" "--fp32 --step$aprof" "--precision fp32 --modes eager$prof" 90
    else
        modes=eager
        [ "$batch" = 128 ] && modes=eager,compile # compile only here: ~1 min of compilation per batch size
        peer "$key" "ResNet-50 224x224 batch $batch training step, bf16 (ours: bf16 activation chain; PyTorch: AMP bf16 + channels_last, $modes), frozen BN, Smooth-AP, fwd+loss+bwd+SGD" \
            "$batch" "--bf16 --step$aprof" "--precision bf16 --modes $modes$prof" "$([ "$modes" = eager ] && echo 90 || echo 240)"
    fi
}

# train_resnet50: ResNet-50 (64x64x3, 5 SGD steps, frozen BN) on cuda against the cpu backend, within 3x
# the floor a 1e-6 weight perturbation gives on the cpu (test_train_cuda; the small CNN runs as a test)
step_train_resnet50() {
    local f="$LOG/train_resnet50_cuda_vs_cpu.log" c
    c=$(cap 240)
    [ "$c" -gt 0 ] || { record train_resnet50 SKIP "time budget spent"; return; }
    run_capped "$c" "$f" "$BIN/test_train_cuda" --arch resnet50 --size 64 --channels 3
    verdict train_resnet50 "$f"
    [ "$RC" -eq 0 ] && figure "### ResNet-50 training, cuda vs cpu (test_train_cuda --arch resnet50 --size 64)" '```' \
        "$(grep -E '^(step|resnet50|ratio|Recall)' "$f")" '```'
}

# compute-sanitizer TOOL TEST [CAP]: PASS with 0 errors; "unavailable" (SKIP) when the tool is missing or
# cannot attach to this device; FAIL when it reports errors.
sanitize() {
    local tool=$1 t=$2 f="$LOG/$1_$2.log" c step="$1 $2" want=${3:-60}
    if ! grep -qx "$t" "$PREFIX/gpu-tests.txt"; then record "$step" FAIL "$t not in the archive"; return; fi
    if [ "$NGPU" -eq 0 ]; then record "$step" SKIP "skipped: no device"; return; fi
    if [ -z "$SANITIZER" ]; then record "$step" SKIP "compute-sanitizer unavailable (not found)"; return; fi
    c=$(cap "$want")
    [ "$c" -gt 0 ] || { record "$step" SKIP "time budget spent"; return; }
    run_capped "$c" "$f" "$SANITIZER" --tool "$tool" --error-exitcode 99 --print-limit 20 "$BIN/$t"
    local summ
    summ=$(grep -m1 -E '(ERROR|RACECHECK) SUMMARY' "$f" | sed 's/^=* *//')
    if [ "$RC" -eq 99 ] || grep -qE 'SUMMARY: [1-9][0-9]* (error|hazard)' "$f"; then
        record "$step" FAIL "${summ:-errors reported (exit $RC)}" "$(basename "$f")"
    elif [ "$RC" -eq 0 ] && [ -n "$summ" ]; then
        record "$step" PASS "$summ, ${DUR} s" "$(basename "$f")"
    elif [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        record "$step" SKIP "incomplete: cap of ${c} s reached, no error reported before" "$(basename "$f")"
    elif grep -qiE 'not supported|unable to|could not|failed to (initialize|attach|load)|no attachable|injection' "$f"; then
        record "$step" SKIP "compute-sanitizer unavailable: $(grep -m1 -iE 'not supported|unable to|could not|failed to|no attachable|injection' "$f" | sed 's/^=* *//' | cut -c1-120)" "$(basename "$f")"
    else
        record "$step" FAIL "exit $RC: $(tail -2 "$f" | head -1 | cut -c1-160)" "$(basename "$f")"
    fi
}

step_bench_nccl() {
    local f="$LOG/bench_nccl.log" c
    c=$(cap 60)
    [ "$c" -gt 0 ] || { record bench_nccl SKIP "time budget spent"; return; }
    run_capped "$c" "$f" "$BIN/bench_nccl" --bucket-mb 25 --bwd-ms 60 --reps 5
    verdict "bench_nccl" "$f"
    [ "$RC" -eq 0 ] && figure "### NCCL buckets, 1 rank (bench_nccl)" '```' "$(grep -E '^(#|\|)' "$f")" '```'
}

declare -A RAN=() # steps already run in this call (an option naming one again does not rerun it)
run_step() {
    local name=$1
    [ -n "${RAN[$name]:-}" ] && return 0
    RAN[$name]=1
    case "$name" in
    resnet50_*) step_resnet50 "$name" ;;
    train_resnet50) step_train_resnet50 ;;
    bench_loss) step_bench_loss ;;
    bench_nccl) step_bench_nccl ;;
    two_ranks) step_two_ranks ;;
    memcheck:*) sanitize memcheck "${name#*:}" 60 ;;
    racecheck:*) sanitize racecheck "${name#*:}" 240 ;;
    *)
        if grep -qx "$name" "$PREFIX/gpu-tests.txt"; then step_test "$name"
        else record "$name" FAIL "unknown step: neither a test of the archive (gpu-tests.txt) nor a step of run.sh"; fi ;;
    esac
}

# --changed: the steps tests/gpu/changed.txt names, one per line ('#' starts a comment)
changed_steps() {
    local f="$root/tests/gpu/changed.txt"
    [ -f "$f" ] || { echo "missing:$f"; return; }
    sed 's/#.*//' "$f" | awk 'NF { print $1 }'
}

if [ "$DEFAULT" -eq 1 ]; then
    pass_start "$BUDGET"
    while read -r t; do [ -n "$t" ] && run_step "$t"; done < "$PREFIX/gpu-tests.txt"
    for s in bench_loss resnet50_fp32_b128 memcheck:test_backend_ops_cuda memcheck:test_loss_cuda bench_nccl; do
        run_step "$s"
    done
fi

# Steps kept in files of their own (tests/gpu/steps/*.sh: step_NAME functions run_step calls).
for f in "$root"/tests/gpu/steps/*.sh; do . "$f"; done

# ---- options: --NAME runs its steps, each option a pass of at most --opt-budget within the total ----
for o in "${OPTS[@]}"; do
    case "$o" in
    changed) steps=$(changed_steps) ;;
    train) steps="train_resnet50 resnet50_fp32_b128 resnet50_fp32_b256" ;;
    bf16) steps="resnet50_bf16_b128 resnet50_bf16_b256" ;;
    racecheck) steps="racecheck:test_loss_cuda racecheck:test_backend_ops_cuda" ;;
    two-ranks) steps="two_ranks" ;;
    *) record "--$o" SKIP "not available yet"; continue ;;
    esac
    if [[ $steps == missing:* ]]; then record "--$o" FAIL "no ${steps#missing:}"; continue; fi
    pass_start "$([ "$o" = changed ] && echo "$TOTAL" || echo "$OPT_BUDGET")"
    for s in $steps; do run_step "$s"; done
done

write_summary
echo
cat "$SUM"
[ "$NFAIL" -eq 0 ]
