apt_test(NAME test_checkpoint SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_checkpoint.c LABELS train)
apt_test(NAME test_progress SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_progress.c LABELS train)
