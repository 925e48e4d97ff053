#!/bin/bash
# aprep_rate.sh F [WORK] — aprep's rows per CPU-second on a synthetic VGGFace2 download at fraction F
# (tests/bench/gen_scale_dataset.c): three uninterrupted runs, then one run killed (SIGKILL) once half the
# train shards are complete and resumed; prints CPU (user + sys), peak RSS and rows per CPU-second.
# Binaries from $APT_BINARY_DIR (default ./build). Figures: tests/bench/RESULTS.md (scale rehearsal).
set -u
F=$1; B="${APT_BINARY_DIR:-build}"; D="${2:-/tmp/apt_aprep_rate}_$F"
rm -rf "$D"; mkdir -p "$D"
"$B/tests/gen_scale_dataset" vggface2 "$D/src" --fraction "$F" --threads 1 > "$D/gen.log"
n=$(awk '{s+=$4} END {print s}' "$D/src/GENERATED.txt")
sh=10000; [ "$n" -lt 200000 ] && sh=1000; [ "$n" -lt 20000 ] && sh=200
cpu() { awk -F": " '/User time/ {u=$2} /System time/ {s=$2} /Maximum resident/ {m=$2} END {printf "%.2f %.0f %.1f %.1f", u+s, m/1024, u, s}' "$1"; }
for r in 1 2 3; do
    rm -rf "$D/out"; /usr/bin/time -v -o "$D/t$r" "$B/aprep" vggface2 --shard-size $sh "$D/src" "$D/out" > "$D/a$r.log" 2>&1
    read -r c m u s < <(cpu "$D/t$r")
    echo "F=$F n=$n uninterrupted run $r: cpu $c s (user $u sys $s), rss $m MiB, $(awk -v n="$n" -v c="$c" 'BEGIN{printf "%.0f", n/c}') rows/CPU-s"
done
rm -rf "$D/out" "$D/out.partial"
/usr/bin/time -v -o "$D/tk" "$B/aprep" vggface2 --shard-size $sh "$D/src" "$D/out" > "$D/k.log" 2>&1 &
tp=$!; half=$(( (n * 95 / 100 + sh - 1) / sh / 2 ))
shopt -s nullglob
while kill -0 $tp 2> /dev/null; do
    f=("$D"/out.partial/train-*.h5)
    if [ ${#f[@]} -ge $half ]; then kill -KILL $(pgrep -P $tp); break; fi
    sleep 0.01
done
wait $tp
/usr/bin/time -v -o "$D/tr" "$B/aprep" vggface2 --resume --shard-size $sh "$D/src" "$D/out" > "$D/r.log" 2>&1
read -r ck mk uk sk < <(cpu "$D/tk"); read -r cr mr ur sr < <(cpu "$D/tr")
echo "F=$F n=$n killed+resumed: cpu $ck + $cr s (user $uk + $ur, sys $sk + $sr), rss $mk/$mr MiB, $(awk -v n="$n" -v c="$ck" -v d="$cr" 'BEGIN{printf "%.0f", n/(c+d)}') rows per CPU-s of the pair; $(grep already "$D/r.log")"
rm -rf "$D"
