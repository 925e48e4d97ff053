#!/usr/bin/env bash
# The README's test command: install dependencies if missing, build, run the whole ctest suite.
#   launch/test.sh [ctest args...]      e.g. launch/test.sh -L loss
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/launch/install-deps.sh"
mkdir -p "${APT_BUILD_DIR:-$root/build}"
"$root/launch/build.sh"
cd "${APT_BUILD_DIR:-$root/build}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --output-on-failure -j "$(nproc)" "$@"
