apt_test(NAME test_losses SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_losses.c LABELS loss)
apt_test(NAME test_loss_memory SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_loss_memory.c LABELS loss)
apt_test(NAME test_loss_mpi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_loss_mpi.c NP 2 LABELS loss)
apt_test(NAME test_loss_mpi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_loss_mpi.c NP 4 LABELS loss)
apt_cmd_test(NAME loss_vs_torch PYTHON LABELS loss
  COMMAND ${APT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/ref_torch_loss.py $<TARGET_FILE:aptrain> ${CMAKE_BINARY_DIR}/tmp/loss_vs_torch)
apt_test(NAME test_loss_pair SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_loss_pair.c LABELS loss gpu)
if(APT_HAVE_CUDA)
  apt_test(NAME test_loss_cuda SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_loss_cuda.c LABELS gpu)
endif()
# benchmark (not a test): tests/bench/bench_loss.c (+ bench_loss_torch.py), figures in tests/bench/RESULTS.md
add_executable(bench_loss ${CMAKE_SOURCE_DIR}/tests/bench/bench_loss.c)
target_link_libraries(bench_loss PRIVATE apt)
