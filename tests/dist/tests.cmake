apt_test(NAME test_comm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm.c LABELS dist)
apt_test(NAME test_comm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm.c NP 2 LABELS dist)
apt_test(NAME test_comm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_comm.c NP 4 LABELS dist)
