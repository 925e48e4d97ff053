#!/usr/bin/env bash
# rehearse.sh — rehearse the GPU check on this machine (root, network; by hand, not part of ctest):
#
#     tests/gpu/pack.sh && tests/gpu/rehearse.sh [LOGDIR] [--train ...]   (LOGDIR default build/gpu-rehearsal;
#                                                                          --options are passed to run.sh)
#
# A bare Debian root stands in for the GPU host: `debootstrap --variant=minbase --include=python3
# bookworm` (glibc, libstdc++, python3 as a Python image has; none of our libraries; cached under
# $APT_REHEARSE_CACHE, default /var/cache/aptrain-rehearse, and reused), with /proc, /sys and /dev
# mounted and, as the host's CUDA toolkit, this machine's /usr/local/cuda bound read-only at
# /usr/local/cuda (cudart, cuBLAS, cuDNN, NCCL; there is no driver and no GPU). The working tree's
# tests/ and .gpubin/aptgpu.tar.xz are copied into a fresh work folder inside it, and tests/gpu/run.sh
# runs there: it unpacks the archive at /opt/aptgpu (not the build paths), every binary must load and
# every GPU step must report "skipped: no device". Everything mounted is unmounted on exit.
# Exit: run.sh's status (0 = pass), 1 on a set-up error.
set -uo pipefail
die() { echo "rehearse.sh: $*" >&2; exit 1; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)" || die "cannot find the project root"
LOG="" RUN_OPTS=() # --OPTION arguments go to run.sh (e.g. --train); the other one is LOGDIR
for a in "$@"; do case "$a" in --*) RUN_OPTS+=("$a") ;; *) LOG="$a" ;; esac; done
LOG="${LOG:-$root/build/gpu-rehearsal}"
cache="${APT_REHEARSE_CACHE:-/var/cache/aptrain-rehearse}"
R="$cache/bookworm-python3"
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
command -v debootstrap > /dev/null || die "debootstrap not found: apt-get install -y debootstrap"
[ -f "$root/.gpubin/aptgpu.tar.xz" ] || die "no .gpubin/aptgpu.tar.xz: run tests/gpu/pack.sh first"
t_all=$SECONDS

if [ ! -f "$R/.aptrain-debootstrap-ok" ]; then
    echo "rehearse.sh: debootstrap --variant=minbase --include=python3 bookworm $R"
    rm -rf "$R" && mkdir -p "$cache" || die "cannot create $cache"
    t0=$SECONDS
    debootstrap --variant=minbase --include=python3 bookworm "$R" "${APT_REHEARSE_MIRROR:-http://deb.debian.org/debian}" \
        > "$cache/debootstrap.log" 2>&1 || die "debootstrap failed (see $cache/debootstrap.log)"
    touch "$R/.aptrain-debootstrap-ok"
    echo "rehearse.sh: debootstrap took $((SECONDS - t0)) s"
fi

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2> /dev/null || echo "rehearse.sh: umount ${mounted[i]} failed" >&2; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mnt() { # mount ARGS... TARGET (the last argument)
    mount "$@" || die "mount $* failed"
    mounted+=("${!#}")
}
mnt -t proc proc "$R/proc"
mnt -t sysfs sysfs "$R/sys"
mnt --rbind /dev "$R/dev" # with /dev/shm (Open MPI's shared memory); rslave: nothing propagates back
mount --make-rslave "$R/dev" || die "mount --make-rslave $R/dev failed"
mkdir -p "$R/usr/local/cuda"
cuda=$(realpath /usr/local/cuda) || die "no /usr/local/cuda here to stand in for the host's toolkit"
mnt --bind "$cuda" "$R/usr/local/cuda"
mount -o remount,bind,ro "$R/usr/local/cuda" || die "cannot make $R/usr/local/cuda read-only"

# A fresh copy of what travels (as the device tool copies the tree: tracked and untracked, not ignored):
# tests/ (run.sh and the torch peer) and the archive.
W=/work/repo
rm -rf "$R$W" "$R/opt/aptgpu" "$R/tmp/gpu-logs" && mkdir -p "$R$W/.gpubin" || die "cannot create $R$W"
(cd "$root" && git ls-files -z -co --exclude-standard tests | xargs -0 cp --parents -t "$R$W") || die "copying tests/ failed"
cp "$root/.gpubin/aptgpu.tar.xz" "$R$W/.gpubin/" || die "copying the archive failed"
for p in /usr/local/bin/nvcc /usr/lib/x86_64-linux-gnu/libmpi.so.40 /usr/lib/x86_64-linux-gnu/libhdf5_openmpi.so.103; do
    [ ! -e "$R$p" ] || die "the bare root has $p: not a stand-in for the GPU host"
done

echo "rehearse.sh: chroot $R: tests/gpu/run.sh /tmp/gpu-logs --prefix /opt/aptgpu ${RUN_OPTS[*]:-}"
t0=$SECONDS
chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp \
    /bin/bash -c "cd $W && tests/gpu/run.sh /tmp/gpu-logs --prefix /opt/aptgpu ${RUN_OPTS[*]:-}" > /dev/null
rc=$?
dt=$((SECONDS - t0))
rm -rf "$LOG" && mkdir -p "$LOG" && cp -r "$R/tmp/gpu-logs/." "$LOG/"
cat "$LOG/summary.md" 2> /dev/null || die "run.sh wrote no summary"

# The rehearsal's own verdict: run.sh passed, every binary loaded, every GPU step skipped for want of a device.
bad=$(grep -E '^\| ' "$LOG/summary.md" | grep -vE '^\| (step|---)' | awk -F' \\| ' '
    $2 == "FAIL" { print "FAIL: " $0; next }
    $2 == "SKIP" && $3 !~ /skipped: no device/ { print "not a no-device skip: " $0 }')
echo
echo "rehearse.sh: run.sh exit $rc in $dt s (whole rehearsal $((SECONDS - t_all)) s); logs in $LOG"
if [ "$rc" -ne 0 ] || [ -n "$bad" ]; then
    [ -n "$bad" ] && echo "$bad"
    echo "rehearse.sh: FAIL"
    exit 1
fi
echo "rehearse.sh: PASS (every binary loads in a bare bookworm root; every GPU step skipped: no device)"
