#!/usr/bin/env bash
# run.sh — the GPU check in one command, on a GPU host, from the repository root:
#
#     tests/gpu/run.sh LOGDIR [--budget S] [--opt-budget S] [--prefix DIR] [--no-default] [--train] [--bf16] [--vit] ...
#
# Needs .gpubin/aptgpu.tar.xz (tests/gpu/pack.sh on the Debian build machine; carry .gpubin). The host
# provides the CUDA driver, cudart/cuBLAS/cuDNN/NCCL (toolkit or PyTorch's pip wheels), glibc and
# libstdc++; everything else comes from the archive, unpacked at --prefix (default $TMPDIR/aptgpu),
# never at the build machine's paths. Default pass (at most --budget seconds, default 240; every step
# has its own cap and gets no more than the time left):
#   device      nvidia-smi, driver, nvcc, python3/torch/cuDNN versions, compute-sanitizer
#   unpack      the archive at the prefix
#   libs        LD_LIBRARY_PATH = the archive's folders + the host's CUDA folders; `ldd` of every binary
#   aptrain     `aptrain --version` (the binary loads and runs)
#   test_*      every single-rank ctest test labelled gpu, run directly (ctest files hold build paths)
#   bench_loss  fused Smooth-AP / PNP-D_q loss, B = 4096..65536, D 512, m 4 (bench_loss_cuda)
#   resnet50    ResNet-50 224x224 batch 128 fwd+loss+bwd in fp32 (no TF32) through the CUDA op table
#               (bench_resnet_cuda --fp32) and on the host's PyTorch in fp32 with TF32 off, same shapes
#               (tests/bench/bench_resnet_torch.py --precision fp32 --no-step); the ratio
#   racecheck/memcheck  compute-sanitizer on test_backend_ops_cuda and test_loss_cuda
#   bench_nccl  the bucketed all-reduce machinery on 1 rank (bench_nccl)
# Options name further steps: --train (ResNet-50 training on cuda vs cpu, and training images/s with the
# SGD step against PyTorch in fp32), --bf16 (the same training step in bf16 against PyTorch AMP bf16 +
# channels_last), --racecheck (racecheck with 240 s per test); one not written yet (--vit, ...) is reported
# "not available yet". --no-default keeps only device/unpack/libs/aptrain before the options' steps.
# Writes LOGDIR/summary.md (PASS/FAIL/SKIP per step, figures) and one log per step; prints the summary.
# Without a device every GPU step reports "skipped: no device" (exit 0); a missing library or a binary
# that does not load is a FAIL. Exit 0 when no step failed, 1 otherwise, 2 on a usage error.
set -uo pipefail
usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)" || { echo "run.sh: no project root" >&2; exit 2; }
cd "$root" || exit 2

LOG="" BUDGET=240 OPT_BUDGET=600 PREFIX="${TMPDIR:-/tmp}/aptgpu" DEFAULT=1 OPTS=()
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --budget) BUDGET="${2:?--budget needs seconds}"; shift ;;
    --opt-budget) OPT_BUDGET="${2:?--opt-budget needs seconds}"; shift ;;
    --prefix) PREFIX="${2:?--prefix needs a folder}"; shift ;;
    --no-default) DEFAULT=0 ;;
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
DEADLINE=$((SECONDS + BUDGET))
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
        echo "- options: ${OPTS[*]:-(none)}; budget ${BUDGET} s for the default pass"
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
# cap WANT: seconds a step may take (WANT, or what is left of the budget); 0 when the budget is spent
cap() {
    local left=$((DEADLINE - SECONDS))
    if [ "$left" -lt 10 ]; then echo 0; elif [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
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
    [ -n "$PY" ] && timeout 60 "$PY" - << 'EOF' 2>&1
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
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-4}
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
run_capped 30 "$LOG/aptrain.log" "$BIN/aptrain" --version
if [ "$RC" -eq 0 ]; then record aptrain PASS "$(grep -v '^\[exit\|^\$ ' "$LOG/aptrain.log" | head -1)" aptrain.log
else verdict aptrain "$LOG/aptrain.log"; fi

# ---- default GPU steps ----
step_tests() {
    local t c
    while read -r t; do
        [ -n "$t" ] || continue
        c=$(cap 60)
        [ "$c" -gt 0 ] || { record "$t" SKIP "time budget spent"; continue; }
        run_capped "$c" "$LOG/$t.log" "$BIN/$t"
        verdict "$t" "$LOG/$t.log"
    done < "$PREFIX/gpu-tests.txt"
}

step_bench_loss() {
    local f="$LOG/bench_loss.log" c rcs=()
    [ "$NGPU" -gt 0 ] || {
        run_capped 30 "$f" "$BIN/bench_loss_cuda" --reps 1 1024 # loads; exits 77 without a device
        verdict bench_loss "$f"; return
    }
    for args in "--loss smoothap" "--loss smoothap --world 32" "--loss pnp-dq"; do
        c=$(cap 60)
        [ "$c" -gt 0 ] || { record bench_loss SKIP "time budget spent" bench_loss.log; return; }
        # shellcheck disable=SC2086
        run_capped "$c" "$f" "$BIN/bench_loss_cuda" $args --reps 5 4096 16384 65536
        rcs+=("$RC")
        [ "$RC" -eq 0 ] || break
    done
    verdict bench_loss "$f"
    figure "### fused loss (bench_loss_cuda, fp32)" '```' "$(grep -E '^(#|\|)' "$f")" '```'
}

# peer KEY TITLE "APTRAIN ARGS" "TORCH ARGS": bench_resnet_cuda with the shared shape and APTRAIN ARGS
# (step KEY_aptrain), then the host's PyTorch with the same shape and TORCH ARGS (step KEY_torch, the
# host's own library path, not the archive's), and both rows plus their ratio under TITLE in the figures.
peer() {
    local key=$1 title=$2 h="$LOG/$1_aptrain.log" g="$LOG/$1_torch.log" c a t t0
    local shape=(--batch 128 --size 224 --steps 10 --warmup 3) aargs targs
    read -ra aargs <<< "$3"
    read -ra targs <<< "$4"
    c=$(cap 90)
    [ "$c" -gt 0 ] || { record "${key}_aptrain" SKIP "time budget spent"; return; }
    run_capped "$c" "$h" "$BIN/bench_resnet_cuda" "${shape[@]}" "${aargs[@]}"
    verdict "${key}_aptrain" "$h"
    a=$(grep -m1 -oE '[0-9.]+ images/s' "$h" | awk '{print $1}')
    if [ "$NGPU" -eq 0 ]; then record "${key}_torch" SKIP "skipped: no device"; return; fi
    if [ -z "$PY" ]; then record "${key}_torch" SKIP "no python3 on this host"; return; fi
    c=$(cap 150)
    [ "$c" -gt 0 ] || { record "${key}_torch" SKIP "time budget spent"; return; }
    echo "\$ $PY tests/bench/bench_resnet_torch.py ${shape[*]} ${targs[*]}" >> "$g"
    t0=$SECONDS
    LD_LIBRARY_PATH="$HOST_LD" timeout -k 5 "$c" "$PY" tests/bench/bench_resnet_torch.py "${shape[@]}" \
        "${targs[@]}" < /dev/null >> "$g" 2>&1
    RC=$? DUR=$((SECONDS - t0))
    echo "[exit $RC after ${DUR} s]" >> "$g"
    if [ "$RC" -eq 77 ] && grep -q 'no torch' "$g"; then record "${key}_torch" SKIP "python3 has no torch" "$(basename "$g")"
    else verdict "${key}_torch" "$g"; fi
    t=$(grep -m1 -oE '[0-9.]+ images/s' "$g" | awk '{print $1}')
    figure "### $title" \
        "$(grep -m1 '^|' "$h" || echo "| aptrain | no figure (see $(basename "$h")) |")" \
        "$(grep -m1 '^|' "$g" || echo "| PyTorch | no figure (see $(basename "$g")) |")"
    if [ -n "$a" ] && [ -n "$t" ]; then
        figure "" "aptrain / PyTorch = $(awk -v a="$a" -v t="$t" 'BEGIN {printf "%.2f", a / t}') ($a vs $t images/s)"
    fi
}

step_resnet() {
    peer resnet50 "ResNet-50 224x224 batch 128, fp32 (TF32 off on both sides), fwd+loss+bwd" \
        "--fp32" "--precision fp32 --no-step --modes eager"
}

# compute-sanitizer TOOL TEST: PASS with 0 errors; "unavailable" (SKIP) when the tool is missing or
# cannot attach to this device; FAIL when it reports errors.
sanitize() {
    local tool=$1 t=$2 f="$LOG/$1_$2.log" c step="$1 $2" want=${3:-60}
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
step_sanitizers() {
    local tool t
    for tool in racecheck memcheck; do
        for t in test_backend_ops_cuda test_loss_cuda; do
            if grep -qx "$t" "$PREFIX/gpu-tests.txt"; then sanitize "$tool" "$t"
            else record "$tool $t" FAIL "$t not in the archive"; fi
        done
    done
}

step_bench_nccl() {
    local f="$LOG/bench_nccl.log" c
    c=$(cap 60)
    [ "$c" -gt 0 ] || { record bench_nccl SKIP "time budget spent"; return; }
    run_capped "$c" "$f" "$BIN/bench_nccl" --bucket-mb 25 --bwd-ms 60 --reps 5
    verdict "bench_nccl (1 rank)" "$f"
    [ "$RC" -eq 0 ] && figure "### NCCL buckets, 1 rank (bench_nccl)" '```' "$(grep -E '^(#|\|)' "$f")" '```'
}

# --train: training on the GPU. ResNet-50 (64x64x3, 5 SGD steps, frozen BN) on cuda against the cpu backend
# (test_train_cuda; the small CNN runs in the default pass), then ResNet-50 224x224 batch 128 training
# throughput (fwd+loss+bwd+SGD, fp32, TF32 off on both sides) against the host's PyTorch.
step_opt_train() {
    local f="$LOG/train_resnet50_cuda_vs_cpu.log" c
    c=$(cap 240)
    run_capped "$c" "$f" "$BIN/test_train_cuda" --arch resnet50 --size 64 --channels 3
    verdict "train resnet50 cuda vs cpu" "$f"
    peer train_resnet50 "ResNet-50 224x224 batch 128 training step, fp32 (TF32 off on both sides), fwd+loss+bwd+SGD" \
        "--fp32 --step" "--precision fp32 --modes eager"
}

# --racecheck: compute-sanitizer racecheck on the op and loss tests with up to 240 s each (in the default
# pass, 60 s each did not reach the end of either on an H200).
step_opt_racecheck() {
    local t
    for t in test_loss_cuda test_backend_ops_cuda; do
        if grep -qx "$t" "$PREFIX/gpu-tests.txt"; then sanitize racecheck "$t" 240
        else record "racecheck $t" FAIL "$t not in the archive"; fi
    done
}

# --bf16: precision bf16 on the GPU. ResNet-50 224x224 batch 128 training step (fwd+loss+bwd+SGD) with the
# bf16 activation chain (bench_resnet_cuda --bf16 --step) against the host's PyTorch with AMP bf16 and
# channels_last, eager (the usual AMP recipe). test_bf16_ops_cuda (CUDA bf16 ops vs the CPU's) runs in the
# default pass.
step_opt_bf16() {
    peer bf16_resnet50 "ResNet-50 224x224 batch 128 training step, bf16 (ours: bf16 activation chain; PyTorch: AMP bf16 + channels_last), fwd+loss+bwd+SGD" \
        "--bf16 --step" "--precision bf16 --modes eager"
}

if [ "$DEFAULT" -eq 1 ]; then
    step_tests
    step_bench_loss
    step_resnet
    step_sanitizers
    step_bench_nccl
fi

# Steps kept in files of their own (tests/gpu/steps/*.sh define more step_opt_NAME functions).
for f in "$root"/tests/gpu/steps/*.sh; do . "$f"; done

# ---- optional steps: --NAME runs step_opt_NAME when it exists ----
for o in "${OPTS[@]}"; do
    fn="step_opt_${o//-/_}"
    if declare -F "$fn" > /dev/null; then DEADLINE=$((SECONDS + OPT_BUDGET)); "$fn"
    else record "--$o" SKIP "not available yet"; fi
done

write_summary
echo
cat "$SUM"
[ "$NFAIL" -eq 0 ]
