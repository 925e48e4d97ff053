#!/usr/bin/env bash
# test_export.sh — `aptrain export` checked in PyTorch: a resnet18 (1-channel input) trained a few steps on
# the synthetic dataset and evaluated with eval.save_embeddings; the exported safetensors loaded into
# torchvision's resnet18 gives the same test embeddings (tests/launch/check_export.py, /usr/bin/python3).
# Also: a damaged checkpoint is refused with one line.
set -euo pipefail
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
py=${APT_PYTHON:-/usr/bin/python3}
"$py" -c 'import torch, torchvision, h5py' 2>/dev/null || { echo "SKIP: $py lacks torch/torchvision/h5py"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-export.XXXXXX")
trap 'rc=$?; [ $rc -eq 0 ] && rm -rf "$work" || echo "files kept in $work"; exit $rc' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$bin/tests/apt_synth" "$work/data" 4 8 4
"$bin/aptrain" "$src/configs/quickstart.yaml" data.root="$work/data" out_dir="$work/runs" run_name=e model.arch=resnet18 \
  model.bn=frozen model.embed_dim=16 data.batch_size=16 data.samples_per_class=4 schedule.max_steps=3 \
  eval.save_embeddings=true checkpoint.every_epochs=0 logging.every_steps=1 >"$work/train.txt" 2>&1 || { cat "$work/train.txt"; exit 1; }
"$bin/aptrain" export "$work/runs/e/checkpoints/latest.h5" "$work/e.safetensors"
"$py" "$src/tests/launch/check_export.py" "$work/runs/e" "$work/e.safetensors" "$work/data"
head -c 2000 "$work/runs/e/checkpoints/latest.h5" >"$work/cut.h5"
rc=0; "$bin/aptrain" export "$work/cut.h5" "$work/x.safetensors" 2>"$work/err.txt" || rc=$?
cat "$work/err.txt"
[ "$rc" -eq 1 ] && [ "$(wc -l <"$work/err.txt")" -eq 1 ] && [ ! -e "$work/x.safetensors" ] ||
  { echo "FAIL: a damaged checkpoint: exit $rc, want 1 with one line and no output file"; exit 1; }
echo PASS
