apt_test(NAME test_rng SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rng.c LABELS core)
apt_test(NAME test_fsutil SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fsutil.c LABELS core)
