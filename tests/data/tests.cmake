set(APT_DATA_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
apt_test(NAME test_shards SOURCES ${APT_DATA_TEST_DIR}/test_shards.c ${CMAKE_SOURCE_DIR}/data_prep/shard_writer.c LABELS data)
apt_test(NAME test_sampler SOURCES ${APT_DATA_TEST_DIR}/test_sampler.c LABELS data)
apt_test(NAME test_loader SOURCES ${APT_DATA_TEST_DIR}/test_loader.c ${CMAKE_SOURCE_DIR}/data_prep/shard_writer.c LABELS data)
apt_test(NAME test_image SOURCES ${APT_DATA_TEST_DIR}/test_image.c LABELS data PYTHON)
apt_test(NAME test_aprep SOURCES ${APT_DATA_TEST_DIR}/test_aprep.c LABELS data)
apt_test(NAME test_bad_input SOURCES ${APT_DATA_TEST_DIR}/test_bad_input.c ${CMAKE_SOURCE_DIR}/data_prep/shard_writer.c LABELS data)
# End to end on the real Fashion-MNIST (about 3 s): layout and every pixel checked with h5py.
apt_cmd_test(NAME test_aprep_fashion_mnist COMMAND ${APT_PYTHON} ${APT_DATA_TEST_DIR}/check_fashion_mnist.py $<TARGET_FILE:aprep> LABELS data PYTHON)
# benchmark (not a test): tests/bench/bench_loader.c, figures in tests/bench/RESULTS.md
add_executable(bench_loader ${CMAKE_SOURCE_DIR}/tests/bench/bench_loader.c)
target_link_libraries(bench_loader PRIVATE apt)
