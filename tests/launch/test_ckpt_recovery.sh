#!/usr/bin/env bash
# test_ckpt_recovery.sh — checkpoints under damage and storage failure, with the real aptrain binary on
# synthetic data (one process):
#   1. latest.h5 damaged (bytes flipped inside a tensor's chunk; latest.h5 is a hard link of the newest
#      step file, so that one is damaged too): `resume: auto` says so, falls back to the newest intact
#      step-*.h5, and the resumed run ends bitwise equal (params, buffers, optimizer) to an undamaged one;
#   2. disk full (a tmpfs with room for one checkpoint): one clear error naming the file and ENOSPC,
#      exit 1, no temp file left, latest.h5 still intact;
#   3. read-only checkpoint directory (a read-only bind mount): one clear error, exit 1, latest.h5
#      unchanged.
# Needs root for the mounts (else cases 2 and 3 are skipped with a note) and /usr/bin/python3 with h5py
# to locate a chunk and to verify files independently (crc32 of every tensor).
set -euo pipefail
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
py=${APT_PYTHON:-/usr/bin/python3}
"$py" -c 'import h5py' 2>/dev/null || { echo "SKIP: $py has no h5py"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-ckrec.XXXXXX")
mounts=()
cleanup() {
  local rc=$?
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "test_ckpt_recovery: FAILED (rc $rc); files kept in $work"; fi
  exit "$rc"
}
trap cleanup EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$bin/tests/apt_synth" "$work/data" 8 16 8
base=("$src/configs/quickstart.yaml" data.root="$work/data" model.arch=smallcnn model.width=8 model.embed_dim=16
      data.batch_size=32 data.samples_per_class=4 checkpoint.every_epochs=0 checkpoint.every_steps=2
      checkpoint.keep=2 logging.every_steps=1 data.threads=1 schedule.name=constant)  # lr independent of max_steps
train() { "$bin/aptrain" "${base[@]}" "$@"; }
# verify FILE: every dataset under params/buffers/optim readable and equal to its crc32 attribute (h5py).
verify() {
  "$py" - "$1" <<'PY'
import sys, zlib, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    n = 0
    def visit(name, obj):
        global n
        if isinstance(obj, h5py.Dataset) and name.split("/")[0] in ("params", "buffers", "optim"):
            x = np.ascontiguousarray(obj[()], dtype="<f4")
            assert zlib.crc32(x.tobytes()) == int(obj.attrs["crc32"]), name
            n += 1
    f.visititems(visit)
    print(f"{sys.argv[1]}: step {int(f.attrs['step'])}, {n} tensors intact")
PY
}

# ---- 1. damaged latest.h5 -> fallback
train out_dir="$work/runs" run_name=ref schedule.max_steps=8 >"$work/ref.txt" 2>&1
train out_dir="$work/runs" run_name=dmg schedule.max_steps=6 >"$work/dmg1.txt" 2>&1
ck=$work/runs/dmg/checkpoints
ls "$ck"
off=$("$py" -c 'import h5py,sys; d=h5py.File(sys.argv[1],"r")["params/conv1.weight"]; print(d.id.get_chunk_info(0).byte_offset)' "$ck/latest.h5")
"$py" - "$ck/latest.h5" "$off" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2]) + 16
with open(p, "r+b") as f:
    f.seek(off); b = f.read(4); f.seek(off); f.write(bytes(x ^ 0x5A for x in b))
PY
train out_dir="$work/runs" run_name=dmg schedule.max_steps=8 >"$work/dmg2.txt" 2>&1 || { cat "$work/dmg2.txt"; echo "FAIL: resume after damage"; exit 1; }
grep -E 'damaged checkpoint .*latest\.h5' "$work/dmg2.txt" | head -1
grep -qE 'falling back to .*step-00000004\.h5' "$work/dmg2.txt" || { cat "$work/dmg2.txt"; echo "FAIL: no fallback to step 4"; exit 1; }
grep -qE 'resumed from .*step-00000004\.h5 at step 4' "$work/dmg2.txt" || { echo "FAIL: not resumed at step 4"; exit 1; }
for g in /params /buffers /optim; do
  h5diff -q "$work/runs/ref/checkpoints/latest.h5" "$ck/latest.h5" "$g" || { echo "FAIL: $g differs from the undamaged run"; exit 1; }
done
echo "case 1 PASS: fell back to step-00000004.h5, final state bitwise equal to the undamaged run"

if [ "$(id -u)" -ne 0 ]; then echo "cases 2-3 skipped: mounts need root"; exit 0; fi
# ---- 2. disk full: room for the run's small files and one checkpoint (+ half), not two
size=$(stat -c %s "$work/runs/ref/checkpoints/step-00000008.h5")
kb=$(( (size * 3 / 2 + 32768) / 1024 ))
mkdir -p "$work/full"
mount -t tmpfs -o size=${kb}k tmpfs "$work/full"
mounts+=("$work/full")
rc=0; train out_dir="$work/full" run_name=full schedule.max_steps=8 >"$work/full.txt" 2>&1 || rc=$?
grep -E 'cannot write checkpoint' "$work/full.txt" || true
[ "$rc" -eq 1 ] || { cat "$work/full.txt"; echo "FAIL: disk full: exit $rc, want 1"; exit 1; }
[ "$(grep -c 'cannot write checkpoint .*No space left on device' "$work/full.txt")" -eq 1 ] ||
  { cat "$work/full.txt"; echo "FAIL: want one line naming the checkpoint and ENOSPC"; exit 1; }
ls -la "$work/full/full/checkpoints"
ls "$work/full/full/checkpoints" | grep -q tmp && { echo "FAIL: a temp file was left on the full disk"; exit 1; }
verify "$work/full/full/checkpoints/latest.h5"
echo "case 2 PASS: disk full (${kb} KiB tmpfs): clear error, latest.h5 intact"

# ---- 3. read-only checkpoint directory
ro=$work/runs/dmg/checkpoints
sum=$(md5sum <"$ro/latest.h5")
mount --bind "$ro" "$ro"
mounts=("$ro" "${mounts[@]}")
mount -o remount,ro,bind "$ro"
rc=0; train out_dir="$work/runs" run_name=dmg schedule.max_steps=12 >"$work/ro.txt" 2>&1 || rc=$?
grep -E 'cannot write checkpoint' "$work/ro.txt" || true
[ "$rc" -eq 1 ] && [ "$(grep -c 'cannot write checkpoint .*Read-only file system' "$work/ro.txt")" -eq 1 ] ||
  { cat "$work/ro.txt"; echo "FAIL: read-only: exit $rc, want 1 and one line naming the checkpoint and EROFS"; exit 1; }
[ "$(md5sum <"$ro/latest.h5")" = "$sum" ] || { echo "FAIL: latest.h5 changed"; exit 1; }
verify "$ro/latest.h5"
echo "case 3 PASS: read-only directory: clear error, latest.h5 unchanged"
