apt_test(NAME test_losses SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_losses.c LABELS loss)
apt_test(NAME test_loss_mpi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_loss_mpi.c LABELS loss)
apt_test(NAME test_loss_mpi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_loss_mpi.c NP 2 LABELS loss)
apt_test(NAME test_loss_mpi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_loss_mpi.c NP 4 LABELS loss)
apt_cmd_test(NAME loss_vs_torch PYTHON LABELS loss
  COMMAND ${APT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/ref_torch_loss.py $<TARGET_FILE:aptrain> ${CMAKE_BINARY_DIR}/tmp/loss_vs_torch)
