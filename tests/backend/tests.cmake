apt_test(NAME test_backend_ops SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend_ops.c LABELS backend)
