#!/usr/bin/env bash
# Prepare a GPU run (on THIS Debian machine, from the project root): build with CUDA, download the Debian
# runtime packages (../shared/gpu-host/pack-deps.sh -> .devdeps/), and copy the binaries the GPU run needs
# into .gpubin/ (the whole build directory is too large to carry). Both folders are in .gitignore.
# Then, on the GPU host, one command: `bash tests/bench/gpu_run.sh [LOGDIR]` with .devdeps and .gpubin
# carried beside the checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
build="${APT_BUILD_DIR:-$root/build}"
APT_BUILD_DIR="$build" bash launch/build.sh
if [ ! -f .devdeps/env.sh ]; then
  packer="${APT_PACK_DEPS:-$root/../shared/gpu-host/pack-deps.sh}"
  [ -f "$packer" ] || { echo "gpu_pack: pack-deps.sh not found at $packer (set APT_PACK_DEPS)" >&2; exit 1; }
  # pack-deps.sh writes to ./.git/info/exclude, which is not a directory in a git worktree: run it in a
  # scratch directory and move the result here (/.devdeps/ is in .gitignore already).
  scratch=$(mktemp -d)
  mkdir -p "$scratch/.git/info"
  (cd "$scratch" && bash "$packer")
  rm -rf .devdeps && mv "$scratch/.devdeps" .devdeps && rm -rf "$scratch"
fi
rm -rf .gpubin && mkdir -p .gpubin
cp "$build/aptrain" .gpubin/
for f in "$build"/tests/test_* "$build"/tests/bench_*; do
  [ -x "$f" ] && [ -f "$f" ] && cp "$f" .gpubin/
done
du -sh .devdeps .gpubin
echo "gpu_pack: ready. On the GPU host: bash tests/bench/gpu_run.sh   (carry .devdeps and .gpubin)"
