#!/usr/bin/env bash
# test_launch_lines.sh — the command lines the multi-node launchers generate, checked without a cluster.
# (A 2-node Slurm cannot be simulated here: Debian's slurmd is not built with --enable-multiple-slurmd.)
#   sbatch  launch/slurm/aptrain-multinode.sbatch run by bash with Slurm's job variables set and fake
#           srun/scontrol/scancel first on PATH (they record their arguments and environment): the
#           #SBATCH lines give one GPU per task without --gpu-bind=closest; srun gets --mpi=pmix,
#           --cpus-per-task = the job's and SRUN_CPUS_PER_TASK (Slurm >= 22.05 does not pass it on); the
#           aptrain command line; exit 75 (pre-empted) -> scontrol requeue JOBID and exit 0.
#   mpirun  launch/mpirun.sh --dry-run: the single-node line and the multi-node line (--hosts/--per-node:
#           --host H:N,..., --map-by ppr:N:node, threads = cores per node / N, -x NCCL_*/UCX_*); a
#           2-rank run of `hostname` through the multi-node form on this host.
# Usage: test_launch_lines.sh [sbatch|mpirun|all]   (test_slurm.sh runs the sbatch part too)
set -euo pipefail
what=${1:-all}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${APT_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
work=$(mktemp -d "${TMPDIR:-/tmp}/apt-launch-lines.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then echo "ok   $d"; else echo "FAIL $d"; fails=$((fails + 1)); fi
}
has() { grep -qxF -- "$2" "$1"; }     # a whole line
hasnt() { ! grep -qF -- "$2" "$1"; }  # no substring

if [ "$what" = sbatch ] || [ "$what" = all ]; then
  t=$src/launch/slurm/aptrain-multinode.sbatch
  fake=$work/fakebin
  mkdir -p "$fake"
  # srun: one argument per line, then the variables a task would see; exit status from FAKE_SRUN_RC.
  cat >"$fake/srun" <<'EOF'
#!/usr/bin/env bash
printf '%s\n' "$@" >"$FAKE_OUT/srun.args"
env | grep -E '^(SRUN_CPUS_PER_TASK|OMP_NUM_THREADS|NCCL_DEBUG)=' | sort >"$FAKE_OUT/srun.env"
exit "${FAKE_SRUN_RC:-0}"
EOF
  printf '#!/usr/bin/env bash\necho "$@" >>"$FAKE_OUT/scontrol.args"\n' >"$fake/scontrol"
  printf '#!/usr/bin/env bash\necho "$@" >>"$FAKE_OUT/scancel.args"\n' >"$fake/scancel"
  chmod +x "$fake/srun" "$fake/scontrol" "$fake/scancel"
  grep '^#SBATCH' "$t" | awk '{print $2}' >"$work/sbatch.opts" # the options, without their comments
  check "#SBATCH --gpus-per-task=1" has "$work/sbatch.opts" --gpus-per-task=1
  check "#SBATCH --gpu-bind=none (each task sees its node's GPUs, uses GPU <local rank>)" has "$work/sbatch.opts" --gpu-bind=none
  check "no --gpu-bind=closest in #SBATCH lines" hasnt "$work/sbatch.opts" closest
  check "#SBATCH --cpus-per-task=8" has "$work/sbatch.opts" --cpus-per-task=8
  run() { # run OUTDIR SRUN_RC: the template as the batch shell of job 42 with 8 CPUs per task
    mkdir -p "$1"
    env -u SRUN_CPUS_PER_TASK -u OMP_NUM_THREADS PATH="$fake:$PATH" FAKE_OUT="$1" FAKE_SRUN_RC="$2" \
      SLURM_JOB_ID=42 SLURM_CPUS_PER_TASK=8 SLURM_NNODES=2 SLURM_NTASKS=16 APT_BIN=/opt/apt/aptrain \
      bash "$t" cfg.yaml data.threads=6 >"$1/stdout" 2>&1
  }
  set +e; run "$work/ok" 0; rc=$?; set -e
  check "template exits 0 when srun does" test "$rc" -eq 0
  a=$work/ok/srun.args
  echo "  srun $(tr '\n' ' ' <"$a")"
  echo "  task env: $(tr '\n' ' ' <"$work/ok/srun.env")"
  check "srun --mpi=pmix" has "$a" --mpi=pmix
  check "srun --kill-on-bad-exit=1" has "$a" --kill-on-bad-exit=1
  check "srun --cpus-per-task=8 (the job's)" has "$a" --cpus-per-task=8
  check "SRUN_CPUS_PER_TASK=8 exported" has "$work/ok/srun.env" SRUN_CPUS_PER_TASK=8
  check "no --gpu-bind on the srun line (the job's binding holds)" hasnt "$a" --gpu-bind
  check "srun runs aptrain CONFIG device=cuda resume=auto k=v" \
    test "$(tail -n 5 "$a" | tr '\n' ' ')" = "/opt/apt/aptrain cfg.yaml device=cuda resume=auto data.threads=6 "
  set +e; run "$work/pre" 75; rc=$?; set -e
  check "pre-empted (75): exit 0" test "$rc" -eq 0
  check "pre-empted (75): scontrol requeue 42" has "$work/pre/scontrol.args" "requeue 42"
  set +e; run "$work/bad" 3; rc=$?; set -e
  check "a failed run's status passes through (3)" test "$rc" -eq 3
fi

if [ "$what" = mpirun ] || [ "$what" = all ]; then
  m=$src/launch/mpirun.sh
  line=$(env -u NCCL_DEBUG NCCL_SOCKET_IFNAME=ib0 UCX_NET_DEVICES=mlx5_0:1 APT_CORES_PER_NODE=32 APT_BIN=/opt/apt/aptrain \
    "$m" --dry-run --hosts n1,n2,n3,n4 --per-node 8 aptrain cfg.yaml seed=3)
  echo "  $line"
  check "multi-node line" test "$line" = "mpirun -np 32 --host n1:8,n2:8,n3:8,n4:8 --map-by ppr:8:node --bind-to none -x OMP_NUM_THREADS=4 -x OPENBLAS_NUM_THREADS=4 -x NCCL_DEBUG -x NCCL_SOCKET_IFNAME -x UCX_NET_DEVICES /opt/apt/aptrain cfg.yaml seed=3"
  line=$(env -u NCCL_DEBUG APT_THREADS_PER_RANK=1 APT_BIN=/opt/apt/aptrain "$m" --dry-run 2 aptrain cfg.yaml)
  check "single-node line" test "$line" = "mpirun -np 2 --bind-to none -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 -x NCCL_DEBUG /opt/apt/aptrain cfg.yaml"
  set +e; "$m" --hosts n1 aptrain cfg.yaml >/dev/null 2>&1; rc=$?; set -e
  check "--hosts without --per-node: usage error (2)" test "$rc" -eq 2
  check "--help says how to run on several nodes" bash -c "'$m' --help | grep -q 'ppr:N:node'"
  n=$(OMPI_MCA_rmaps_base_oversubscribe=1 "$m" --hosts localhost --per-node 2 hostname | wc -l)
  check "the multi-node form runs (2 ranks on localhost)" test "$n" -eq 2
fi

if [ "$fails" -ne 0 ]; then echo "test_launch_lines: $fails FAILED"; exit 1; fi
echo "test_launch_lines ($what): all passed"
