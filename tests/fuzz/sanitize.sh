#!/usr/bin/env bash
# sanitize.sh — the sanitizer tree and the fuzz runs (tests/fuzz/tests.cmake registers them as ctests).
#   sanitize.sh build DIR               configure + build DIR: clang, -fsanitize=address,undefined with
#                                       UBSan errors fatal, libFuzzer coverage, CUDA off (nvcc takes no
#                                       -fsanitize), the fuzz targets; warnings are not errors here (clang
#                                       warns on gcc pragmas; the gcc tree is the -Werror one)
#   sanitize.sh test DIR                DIR's unit tests, sanitizer reports fatal (slurm/kill/fuzz/sanitize/
#                                       launch/scale/slow labels excluded: they run in the main tree; slow:
#                                       whole-model runs of minutes, whose ops run here in the op tests)
#   sanitize.sh fuzz DIR TARGET RUNS    every regression input of tests/fuzz/regressions/TARGET once, then
#                                       RUNS inputs (seed 1, deterministic) mutated from the seed corpus
# Environment: APT_SOURCE_DIR (ctest sets it).
set -euo pipefail
mode=${1:?build|test|fuzz} dir=${2:?DIR}
src=${APT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
here=$src/tests/fuzz
# Open MPI and HDF5 keep memory until exit: leak reports would be theirs, not ours.
# allocator_may_return_null: libhdf5 mallocs sizes read from a damaged file; without ASan malloc returns
# NULL and HDF5 reports an error, which is the behaviour to test (our own allocations check for NULL).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

case "$mode" in
build)
  command -v clang >/dev/null || { echo "SKIP: clang not installed (launch/install-deps.sh)"; exit 77; }
  flags="-O2 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link"
  mkdir -p "$dir"
  t0=$(date +%s)
  CC=clang cmake -S "$src" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DAPTRAIN_CUDA=OFF -DAPTRAIN_FUZZ=ON -DAPTRAIN_WERROR=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >"$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log"; exit 1; }
  cmake --build "$dir" -j 2 >"$dir/build.log" 2>&1 || { grep -E -A3 'error|Error' "$dir/build.log" | head -60; exit 1; }
  for t in config safetensors checkpoint; do [ -x "$dir/tests/fuzz_$t" ] || { echo "no fuzz_$t built"; exit 1; }; done
  echo "sanitizer tree built in $(( $(date +%s) - t0 )) s: $dir"
  ;;
test)
  cd "$dir"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  # test_guard asserts that host reads of guard memory die with SIGSEGV; ASan turns that SEGV into an
  # abort by design, so it runs in the plain tree only (the guard's positive tests still run here).
  ctest -j 2 --output-on-failure -LE '^(slurm|kill|fuzz|sanitize|launch|scale|slow)$' -E '^test_guard$'
  ;;
fuzz)
  t=${3:?TARGET} runs=${4:?RUNS}
  bin=$dir/tests/fuzz_$t
  [ -x "$bin" ] || { echo "no $bin (test_sanitize_build)"; exit 1; }
  work=$dir/fuzz/$t
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts"
  case "$t" in
    config) cp "$src"/configs/*.yaml "$src"/tests/config/data/*.yaml "$here"/seeds/config/* "$work/seeds/" ;;
    *) APT_FUZZ_WRITE_SEED="$work/seeds/valid" "$bin" ;;
  esac
  reg=$here/regressions/$t
  n=0
  for f in "$reg"/*; do
    [ -f "$f" ] || continue
    "$bin" -close_fd_mask=3 "$f" >"$work/regression.log" 2>&1 || { cat "$work/regression.log"; echo "FAIL: regression input $f"; exit 1; }
    n=$((n + 1))
  done
  echo "fuzz_$t: $n regression inputs pass"
  t0=$(date +%s)
  if ! "$bin" -runs="$runs" -seed=1 -max_len=16384 -timeout=20 -close_fd_mask=3 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds" >"$work/fuzz.log" 2>&1; then
    tail -60 "$work/fuzz.log"
    echo "FAIL: fuzz_$t found a crash: $(ls "$work/artifacts")"
    echo "      reproduce: $bin $work/artifacts/<file>; once fixed, add the file to tests/fuzz/regressions/$t/"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss' "$work/fuzz.log" || true
  echo "fuzz_$t: $runs inputs in $(( $(date +%s) - t0 )) s, no crash"
  ;;
*) echo "usage: sanitize.sh build|test|fuzz DIR [TARGET RUNS]" >&2; exit 2 ;;
esac
