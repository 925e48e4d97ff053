# The op test (cases generated from APT_BACKEND_OPS): one source, two programs by the backends they run
# without arguments: cpu + guard (label backend), cuda (label gpu; exits 77 without a device or without CUDA,
# compiled in every build so CI keeps it building).
apt_test(NAME test_backend_ops SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend_ops.c LABELS backend guard)
apt_test(NAME test_backend_ops_cuda SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend_ops.c LABELS gpu TIMEOUT 600)
target_compile_definitions(test_backend_ops_cuda PRIVATE APT_OP_TEST_BACKENDS="cuda")
if(APT_HAVE_CUDA)
  apt_test(NAME test_conv_algo SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_conv_algo.c LABELS backend gpu)
endif()
# benchmark (not a test): tests/bench/bench_conv.c, figures in tests/bench/RESULTS.md
add_executable(bench_conv ${CMAKE_SOURCE_DIR}/tests/bench/bench_conv.c)
target_link_libraries(bench_conv PRIVATE apt)
# benchmark (not a test): tests/bench/bench_conv_layout.c, bf16 convolutions NCHW vs NHWC, RESULTS.md
add_executable(bench_conv_layout ${CMAKE_SOURCE_DIR}/tests/bench/bench_conv_layout.c)
target_link_libraries(bench_conv_layout PRIVATE apt)
# benchmark (not a test): tests/bench/bench_model.c (+ bench_model_torch.py), figures in tests/bench/RESULTS.md
add_executable(bench_model ${CMAKE_SOURCE_DIR}/tests/bench/bench_model.c)
target_link_libraries(bench_model PRIVATE apt)
apt_test(NAME test_pool_window SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pool_window.c LABELS backend gpu)
# The guard test backend: its ops equal the CPU's, and host code touching its memory dies with SIGSEGV.
apt_test(NAME test_guard SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_guard.c LABELS backend guard)
apt_test(NAME test_transformer_ops SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_transformer_ops.c LABELS backend vit)
if(APT_HAVE_CUDA)
  apt_test(NAME test_transformer_ops_cuda SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_transformer_ops_cuda.c LABELS gpu vit)
endif()
