apt_test(NAME test_backend_ops SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend_ops.c LABELS backend)
if(APT_HAVE_CUDA)
  apt_test(NAME test_backend_ops_cuda SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend_ops_cuda.c LABELS gpu)
endif()
