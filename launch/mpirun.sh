#!/usr/bin/env bash
# mpirun wrapper with the environment aptrain expects.
#   launch/mpirun.sh [--dry-run] NP aptrain CONFIG.yaml [k=v ...]                      this node, NP ranks
#   launch/mpirun.sh [--dry-run] --hosts H1,H2,... --per-node N aptrain CONFIG.yaml [k=v ...]
#                                                                    N ranks on each host, len(hosts) x N
# One node:
#   - one OpenMP/BLAS thread per rank unless APT_THREADS_PER_RANK says otherwise (ranks x threads <= cores);
#   - --oversubscribe when NP exceeds the cores of this machine (tests, laptops).
# Several nodes (--hosts/--per-node; the nodes alike, each with N GPUs for a GPU run):
#   mpirun -np len(hosts)xN --host H1:N,H2:N,... --map-by ppr:N:node: ranks fill node by node, so local rank
#   = GPU index on each node (aptrain uses GPU <local rank>); threads per rank = the cores of one node
#   (APT_CORES_PER_NODE, default: this node's) / N, or APT_THREADS_PER_RANK.
# Both:
#   - Open MPI's run-as-root variables when running as root (containers, CI);
#   - -x forwards OMP_NUM_THREADS/OPENBLAS_NUM_THREADS and every NCCL_* and UCX_* variable set here to
#     every rank on every node (NCCL_DEBUG=WARN by default so failures name their cause); set
#     NCCL_SOCKET_IFNAME (and OMPI_MCA_btl_tcp_if_include, which mpirun reads itself) when the nodes have
#     several networks;
#   - --dry-run prints the mpirun command instead of running it.
# Under Slurm use launch/slurm/aptrain-multinode.sbatch (srun --mpi=pmix) instead.
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; }
dry=0 hosts="" per_node=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1; shift ;;
    --hosts) hosts="${2:?--hosts needs H1,H2,...}"; shift 2 ;;
    --per-node) per_node="${2:?--per-node needs a rank count}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) break ;;
  esac
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# This node's cores: nproc alone would answer OMP_NUM_THREADS when that is set.
ncores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
mpi=(mpirun)
if [ -n "$hosts$per_node" ]; then
  [ -n "$hosts" ] && [ -n "$per_node" ] || { echo "mpirun.sh: --hosts and --per-node go together" >&2; exit 2; }
  [[ "$per_node" =~ ^[1-9][0-9]*$ ]] || { echo "mpirun.sh: --per-node $per_node is not a rank count" >&2; exit 2; }
  IFS=, read -r -a hl <<<"$hosts"
  spec=""
  for h in "${hl[@]}"; do [ -n "$h" ] && spec="${spec:+$spec,}$h:$per_node"; done
  [ -n "$spec" ] || { echo "mpirun.sh: --hosts names no host" >&2; exit 2; }
  nodes=$(( $(tr -cd , <<<"$spec" | wc -c) + 1 ))
  np=$(( nodes * per_node ))
  cores="${APT_CORES_PER_NODE:-$ncores}"
  threads="${APT_THREADS_PER_RANK:-$(( cores / per_node > 0 ? cores / per_node : 1 ))}"
  mpi+=(-np "$np" --host "$spec" --map-by "ppr:$per_node:node")
else
  [ $# -gt 0 ] || { usage >&2; exit 2; }
  np="$1"; shift
  threads="${APT_THREADS_PER_RANK:-$(( ncores / np > 0 ? ncores / np : 1 ))}"
  mpi+=(-np "$np")
  [ "$np" -gt "$ncores" ] && mpi+=(--oversubscribe)
fi
[ $# -gt 0 ] || { usage >&2; exit 2; }
cmd=("$@")
[ "${cmd[0]}" = aptrain ] && cmd[0]="${APT_BIN:-$root/build/aptrain}"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export NCCL_DEBUG="${NCCL_DEBUG:-WARN}"
mpi+=(--bind-to none -x OMP_NUM_THREADS="$threads" -x OPENBLAS_NUM_THREADS="$threads")
while IFS= read -r v; do mpi+=(-x "$v"); done < <(compgen -e | grep -E '^(NCCL|UCX)_' | sort)
if [ "$dry" -eq 1 ]; then
  out=()
  for a in "${mpi[@]}" "${cmd[@]}"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+=("$a"); else out+=("$(printf '%q' "$a")"); fi
  done
  echo "${out[*]}"
  exit 0
fi
exec "${mpi[@]}" "${cmd[@]}"
