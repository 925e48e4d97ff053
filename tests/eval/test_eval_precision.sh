#!/usr/bin/env bash
# test_eval_precision.sh — `aptrain eval` builds the model at the run's precision: a `precision: bf16`
# run's final evaluation (its bf16 activation chain) and `aptrain eval` of its checkpoint give the same
# test embeddings, bitwise; evaluating the same checkpoint with precision=fp32 gives other embeddings
# (so the comparison can fail: before, `aptrain eval` always built an fp32 model).
# Environment: APT_SOURCE_DIR, APT_BINARY_DIR (ctest sets them).
set -euo pipefail
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-eval-prec.XXXXXX")
trap 'rc=$?; [ $rc -eq 0 ] && rm -rf "$work" || echo "files kept in $work"; exit $rc' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
"$bin/tests/apt_synth" "$work/data" 8 16 8 > /dev/null
args=("$src/configs/quickstart.yaml" data.root="$work/data" out_dir="$work/runs" device=cpu precision=bf16
      model.arch=smallcnn model.width=8 model.embed_dim=16 data.batch_size=32 data.samples_per_class=4
      schedule.max_steps=3 data.threads=1 eval.every_epochs=0 checkpoint.every_epochs=0 eval.save_embeddings=true
      resume=never)
"$bin/aptrain" "${args[@]}" run_name=train > "$work/train.log" 2>&1 || { cat "$work/train.log"; fail "training failed"; }
ck=$work/runs/train/checkpoints/latest.h5
[ -f "$ck" ] || fail "no $ck"
"$bin/aptrain" eval "${args[@]}" run_name=ev --checkpoint "$ck" > "$work/ev.log" 2>&1 || { cat "$work/ev.log"; fail "aptrain eval failed"; }
"$bin/aptrain" eval "${args[@]}" run_name=ev32 precision=fp32 --checkpoint "$ck" > "$work/ev32.log" 2>&1 \
    || { cat "$work/ev32.log"; fail "aptrain eval precision=fp32 failed"; }
dump() { h5dump -d /embeddings -m '%.9g' -y -w 0 "$1" | sed -n '/DATA {/,/}/p'; }
a=$(dump "$work/runs/train/embeddings_test.h5") b=$(dump "$work/runs/ev/embeddings_test.h5") c=$(dump "$work/runs/ev32/embeddings_test.h5")
[ "$(wc -l <<< "$a")" -gt 2 ] || fail "no embeddings read from the training run"
[ "$a" = "$b" ] || fail "aptrain eval (bf16 run) embeddings differ from the run's own final evaluation"
[ "$a" != "$c" ] || fail "precision=fp32 evaluation gave the bf16 embeddings: the test cannot tell the precisions apart"
echo "test_eval_precision: bf16 run == aptrain eval of its checkpoint (bitwise, $(grep -c , <<< "$a") rows); fp32 evaluation differs"
