#!/usr/bin/env bash
# plot.sh RUN_DIR [OUT_DIR] — PNG plots of a run's metrics.jsonl with gnuplot (Debian gnuplot-nox):
#   loss.png (training loss per logged step), lr.png (learning rate), throughput.png (images/s),
#   recall.png (Recall@K of every evaluation). OUT_DIR defaults to RUN_DIR/plots.
set -euo pipefail
run=${1:?usage: launch/plot.sh RUN_DIR [OUT_DIR]}
out=${2:-$run/plots}
m=$run/metrics.jsonl
[ -f "$m" ] || { echo "plot.sh: $m not found" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# metrics.jsonl holds flat objects: {"type":"train","epoch":0,"step":20,"loss":0.41,...}. One TSV per type,
# columns named by the keys of the first line of that type.
awk -v dir="$tmp" '
  {
    line = $0; gsub(/^[{]|[}]$/, "", line); n = split(line, kv, ",")
    type = ""; cols = ""; vals = ""
    for (i = 1; i <= n; i++) {
      split(kv[i], p, ":"); k = p[1]; v = p[2]; gsub(/"/, "", k); gsub(/"/, "", v)
      if (k == "type") { type = v; continue }
      cols = cols (cols == "" ? "" : "\t") k; vals = vals (vals == "" ? "" : "\t") v
    }
    f = dir "/" type ".tsv"
    if (!(type in seen)) { seen[type] = 1; print cols > f }
    print vals >> f
  }' "$m"

plot() { # plot FILE.tsv OUT.png TITLE YLABEL COLUMN_NAME... (x: step)
  local tsv=$1 png=$2 title=$3 ylabel=$4; shift 4
  [ -f "$tsv" ] || return 0
  local header; header=$(head -1 "$tsv")
  local xcol; xcol=$(tr '\t' '\n' <<<"$header" | grep -nx step | cut -d: -f1)
  local cmds=() c col
  for c in "$@"; do
    col=$(tr '\t' '\n' <<<"$header" | grep -nx -- "$c" | cut -d: -f1 || true)
    [ -n "$col" ] && cmds+=("'$tsv' every ::1 using $xcol:$col with linespoints pt 7 ps 0.4 title '$c'")
  done
  [ ${#cmds[@]} -gt 0 ] || return 0
  local IFS=,
  gnuplot <<GP
set terminal png size 900,540
set output '$png'
set title '$title'
set xlabel 'step'
set ylabel '$ylabel'
set grid
set key top right
plot ${cmds[*]}
GP
  echo "$png"
}
plot "$tmp/train.tsv" "$out/loss.png" "$run: training loss" loss loss
plot "$tmp/train.tsv" "$out/lr.png" "$run: learning rate" lr lr
plot "$tmp/train.tsv" "$out/throughput.png" "$run: throughput" 'images/s' images_per_s
if [ -f "$tmp/eval.tsv" ]; then
  mapfile -t ks < <(head -1 "$tmp/eval.tsv" | tr '\t' '\n' | grep '^recall@')
  plot "$tmp/eval.tsv" "$out/recall.png" "$run: Recall@K" recall "${ks[@]}" map map@r
fi
