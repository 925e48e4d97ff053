apt_test(NAME test_losses SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_losses.c LABELS loss)
