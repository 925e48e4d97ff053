# End-to-end launch tests: the real aptrain binary under Slurm and under mpirun with a lost rank.
add_executable(apt_synth ${CMAKE_CURRENT_LIST_DIR}/apt_synth.c)
target_link_libraries(apt_synth PRIVATE aprep_writer apt)
target_include_directories(apt_synth PRIVATE ${CMAKE_SOURCE_DIR}/tests/train ${CMAKE_SOURCE_DIR}/tests)
# A private one-node Slurm (munged, slurmctld, slurmd started and stopped by PID by the test): a 2-task job
# to the end, then a job pre-empted with USR1, requeued and resumed to bitwise-equal final state (~50 s).
apt_cmd_test(NAME test_slurm COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_slurm.sh 540 LABELS slurm launch TIMEOUT 600)
set_tests_properties(test_slurm PROPERTIES RUN_SERIAL TRUE)
# The multi-node launch lines without a cluster (~1 s): aptrain-multinode.sbatch with a fake srun (one GPU
# per task, no --gpu-bind=closest, --cpus-per-task / SRUN_CPUS_PER_TASK, requeue on 75) and
# launch/mpirun.sh --dry-run (--hosts/--per-node: --map-by ppr:N:node, -x NCCL_*). test_slurm runs the
# sbatch half too.
apt_cmd_test(NAME test_launch_lines COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_launch_lines.sh all LABELS launch multinode TIMEOUT 60)
# A rank lost at a seeded random step (SIGKILL: dies; SIGSTOP: hangs): rank 0 exits within 60 s naming it
# and the step, no process left, latest.h5 intact (~10 s and ~25 s).
apt_cmd_test(NAME test_lost_rank_kill COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_lost_rank.sh kill 1 LABELS kill launch TIMEOUT 240)
apt_cmd_test(NAME test_lost_rank_stop COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_lost_rank.sh stop 2 LABELS kill launch TIMEOUT 240)
set_tests_properties(test_lost_rank_kill test_lost_rank_stop PROPERTIES RUN_SERIAL TRUE)
# The numeric stop at 2 ranks (train.on_nan abort and skip): status 4 through MPI_Abort, one line from
# rank 0 also in log.txt, no rank reported lost, no process left, latest.h5 untouched (~5 s).
apt_cmd_test(NAME test_nan_stop COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_nan_stop.sh LABELS train launch TIMEOUT 300)
# launch/rerun.sh (reproduces a 2-rank run; names an altered metrics line), launch/plot.sh, aptrain check.
apt_cmd_test(NAME test_run_tools COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_run_tools.sh LABELS launch TIMEOUT 300)
# aptrain export: the safetensors file in torchvision's resnet18 gives aptrain's test embeddings (~30 s).
apt_cmd_test(NAME test_export COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_export.sh PYTHON LABELS launch TIMEOUT 300)
# Checkpoints under damage and storage failure: damaged latest.h5 -> fallback to the newest intact step
# file (bitwise-equal finish), disk full (tmpfs), read-only directory (bind mount); ~15 s.
apt_cmd_test(NAME test_ckpt_recovery COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_ckpt_recovery.sh PYTHON
  LABELS train launch TIMEOUT 300)
# Multi-node set-up failures at 2 ranks on one host (README "Multi-node"): a rank stopped right after
# MPI_Init ends the job with status 5 at the start-up deadline before any communicator exists (~6 s);
# ranks in different working directories with a relative out_dir are refused as "not shared" (~13 s, the
# NFS allowance of 10 s included); ranks of different precision, and two ranks on one GPU (a fake PCI bus
# id, APT_TEST_DEVICE_ID), are refused with one line naming the ranks (~2 s each).
foreach(mode startup shared agree gpudup)
  apt_cmd_test(NAME test_multinode_${mode} COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_multinode.sh ${mode}
    LABELS multinode launch TIMEOUT 120)
endforeach()
