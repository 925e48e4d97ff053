apt_test(NAME test_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model.c LABELS nn)
