#!/usr/bin/env bash
# mpirun wrapper with the environment aptrain expects. Usage: launch/mpirun.sh NP aptrain CONFIG.yaml [k=v ...]
#   - one OpenMP/BLAS thread per rank unless APT_THREADS_PER_RANK says otherwise (ranks x threads <= cores);
#   - Open MPI's run-as-root variables when running as root (containers, CI);
#   - --oversubscribe when NP exceeds the cores of this machine (tests, laptops).
#   - NCCL knobs pass through from the caller (NCCL_DEBUG=WARN by default so failures name their cause).
set -euo pipefail
np="${1:?usage: launch/mpirun.sh NP COMMAND...}"; shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd=("$@")
[ "${cmd[0]}" = aptrain ] && cmd[0]="${APT_BIN:-$root/build/aptrain}"
threads="${APT_THREADS_PER_RANK:-$(( $(nproc) / np > 0 ? $(nproc) / np : 1 ))}"
extra=()
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
[ "$np" -gt "$(nproc)" ] && extra+=(--oversubscribe)
export NCCL_DEBUG="${NCCL_DEBUG:-WARN}"
exec mpirun -np "$np" "${extra[@]}" --bind-to none \
  -x OMP_NUM_THREADS="$threads" -x OPENBLAS_NUM_THREADS="$threads" -x NCCL_DEBUG \
  "${cmd[@]}"
