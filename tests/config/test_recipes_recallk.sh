#!/usr/bin/env bash
# test_recipes_recallk.sh — the shipped Recall@k recipes (configs/inaturalist_recallk.yaml, ResNet-50, and
# configs/inaturalist_recallk_vitb16.yaml, ViT-B/16) train and evaluate: each runs on CPU, unchanged but for the
# sizes (its own backbone, random init, on 28x28 synthetic images, cropped to 16x16 for the ViT: one patch;
# a 16-d head, batch 32 = 8 classes x 4, train.chunk 8, 3 steps), and must exit 0 after its final evaluation with leaderboard.md and leaderboard.json written under the
# recipe's protocol (inaturalist, whose published rows include the Recall@k surrogate's).
# The recipe's loss (recallk, its k and temperatures, tau), optimizer, schedule, chunked two-pass step, sampler
# and eval.recall_k [1, 4, 16, 32] are the shipped ones.
# Environment: APT_SOURCE_DIR, APT_BINARY_DIR (ctest sets them).
set -euo pipefail
src=${APT_SOURCE_DIR:?} bin=${APT_BINARY_DIR:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-recipes-recallk.XXXXXX")
trap 'rc=$?; [ $rc -eq 0 ] && rm -rf "$work" || echo "files kept in $work"; exit $rc' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
"$bin/tests/apt_synth" "$work/data" 8 16 8 > /dev/null
small=(data.root="$work/data" out_dir="$work/runs" device=cpu resume=never data.threads=1 data.prefetch=2
       data.batch_size=32 data.samples_per_class=4 data.resize=0 data.crop=0 data.augment=false
       data.mean=[0.5] data.std=[0.5] model.embed_dim=16 train.chunk=8 schedule.max_steps=3
       checkpoint.every_epochs=0 logging.every_steps=1
       eval.published="$src/configs/published.yaml") # the published rows, whatever the working directory
run() { # NAME CONFIG OVERRIDES...
    local name=$1 cfg=$2; shift 2
    "$bin/aptrain" "$src/configs/$cfg" "${small[@]}" run_name="$name" "$@" > "$work/$name.log" 2>&1 \
        || { cat "$work/$name.log"; fail "$cfg: training failed"; }
    local d=$work/runs/$name
    [ -s "$d/leaderboard.md" ] && [ -s "$d/leaderboard.json" ] || { cat "$work/$name.log"; fail "$cfg: no leaderboard"; }
    grep -q 'R@32' "$d/leaderboard.md" || fail "$cfg: leaderboard without R@32 (eval.recall_k [1, 4, 16, 32])"
    grep -q 'Recall@k surrogate' "$d/leaderboard.md" || fail "$cfg: leaderboard without the published Recall@k rows"
    grep -q 'loss recallk' "$work/$name.log" || fail "$cfg: the log does not name the recallk loss"
    grep -q 'train.chunk: two-pass step' "$work/$name.log" || fail "$cfg: not the chunked two-pass step"
    echo "ok   $cfg${*:+ ($*)}: trained 3 steps, evaluated, leaderboard written"
}
run recallk_r50 inaturalist_recallk.yaml
run recallk_vit inaturalist_recallk_vitb16.yaml data.crop=16
echo "test_recipes_recallk: both recipes train and evaluate"
