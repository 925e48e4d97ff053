apt_test(NAME test_comm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm.c LABELS dist)
apt_test(NAME test_comm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm.c NP 2 LABELS dist)
apt_test(NAME test_comm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm.c NP 4 LABELS dist)
apt_test(NAME test_comm_auto SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm_auto.c LABELS dist)
if(APT_HAVE_CUDA)
  apt_test(NAME test_comm_nccl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm_nccl.c LABELS dist gpu)
endif()
apt_test(NAME test_buckets SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_buckets.c LABELS dist gpu)
apt_test(NAME test_buckets SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_buckets.c NP 2 LABELS dist gpu)
apt_test(NAME test_buckets SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_buckets.c NP 4 LABELS dist gpu)
# Device buffers over MPI through host scratch (the guard backend's memory stands in for a GPU's).
apt_test(NAME test_comm_staged SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm_staged.c LABELS dist guard)
apt_test(NAME test_comm_staged SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm_staged.c NP 2 LABELS dist guard)
apt_test(NAME test_comm_staged SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm_staged.c NP 4 LABELS dist guard)
# Every rank issues the same collectives in the same order: short trainings (bn frozen/sync, train.chunk,
# evaluation, checkpoint + resume, NaN skip, staged device buffers on the guard backend) with the test-only
# recorder (APT_COMM_RECORD, dist/comm_record.c); the per-rank logs must be identical. W = 2 and 4.
apt_test(NAME test_comm_record SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm_record.c NP 2 LABELS dist multinode train TIMEOUT 120)
apt_test(NAME test_comm_record SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm_record.c NP 4 LABELS dist multinode train TIMEOUT 120)
if(APT_HAVE_CUDA)
  # dist.backend nccl at W = 1: NCCL pair + buckets (PreMulSum x 2 after a spin kernel) vs the staged path
  # (x 2), bitwise, on one GPU; skips (77) without one. The cpu twin checks the staged x 2 and the W = 1
  # buckets on the guard backend (no GPU needed).
  apt_test(NAME test_nccl_train_w1 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_nccl_train_w1.c LABELS dist gpu multinode TIMEOUT 300)
  add_test(NAME test_nccl_train_w1_cpu_twin COMMAND test_nccl_train_w1)
  set_tests_properties(test_nccl_train_w1_cpu_twin PROPERTIES ENVIRONMENT "${APT_TEST_ENV};APT_TEST_CPU_TWIN=1"
    LABELS "dist;multinode;guard" TIMEOUT 300)
endif()
