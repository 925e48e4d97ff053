apt_test(NAME test_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model.c LABELS nn)
apt_test(NAME test_nn_ref SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_nn_ref.c LABELS nn PYTHON TIMEOUT 120)
