set(APT_DATA_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
apt_test(NAME test_shards SOURCES ${APT_DATA_TEST_DIR}/test_shards.c LABELS data)
apt_test(NAME test_sampler SOURCES ${APT_DATA_TEST_DIR}/test_sampler.c LABELS data)
apt_test(NAME test_loader SOURCES ${APT_DATA_TEST_DIR}/test_loader.c LABELS data)
apt_test(NAME test_image SOURCES ${APT_DATA_TEST_DIR}/test_image.c LABELS data PYTHON)
apt_test(NAME test_aprep SOURCES ${APT_DATA_TEST_DIR}/test_aprep.c LABELS data)
apt_test(NAME test_bad_input SOURCES ${APT_DATA_TEST_DIR}/test_bad_input.c LABELS data)
# End to end on the real Fashion-MNIST (about 3 s): layout and every pixel checked with h5py.
apt_cmd_test(NAME test_aprep_fashion_mnist COMMAND ${APT_PYTHON} ${APT_DATA_TEST_DIR}/check_fashion_mnist.py $<TARGET_FILE:aprep> LABELS data PYTHON)
# benchmark (not a test): tests/bench/bench_loader.c, figures in tests/bench/RESULTS.md
add_executable(bench_loader ${CMAKE_SOURCE_DIR}/tests/bench/bench_loader.c)
target_link_libraries(bench_loader PRIVATE apt)
apt_test(NAME test_augment SOURCES ${APT_DATA_TEST_DIR}/test_augment.c LABELS data)
apt_test(NAME test_loader_mpi SOURCES ${APT_DATA_TEST_DIR}/test_loader_mpi.c NP 2 LABELS data)
apt_test(NAME test_loader_mpi SOURCES ${APT_DATA_TEST_DIR}/test_loader_mpi.c NP 4 LABELS data)
apt_test(NAME test_aprep_jpeg SOURCES ${APT_DATA_TEST_DIR}/test_aprep_jpeg.c LABELS data)
apt_test(NAME test_loader_jpeg SOURCES ${APT_DATA_TEST_DIR}/test_loader_jpeg.c LABELS data PYTHON)
apt_test(NAME test_fuzz_data SOURCES ${APT_DATA_TEST_DIR}/test_fuzz_data.c LABELS data fuzz TIMEOUT 120)
apt_test(NAME test_e2e_inaturalist SOURCES ${APT_DATA_TEST_DIR}/test_e2e_inaturalist.c LABELS data e2e TIMEOUT 300)
apt_test(NAME test_e2e_vggface2 SOURCES ${APT_DATA_TEST_DIR}/test_e2e_vggface2.c LABELS data e2e train TIMEOUT 120)
# benchmark (not a test): per-row cost of CRC-32 vs Fletcher32 (tests/bench/RESULTS.md)
add_executable(bench_row_checksum ${CMAKE_SOURCE_DIR}/tests/bench/bench_row_checksum.c)
target_link_libraries(bench_row_checksum PRIVATE apt)
# DESIGN §5 in forked children: the off-main-thread backstop (_exit, no atexit), exit hooks joining loaders.
apt_test(NAME test_loader_exit SOURCES ${APT_DATA_TEST_DIR}/test_loader_exit.c LABELS data)
# Errors found in worker threads end the run from the main thread (DESIGN §5): a damaged row (raw, jpeg)
# trained 20 times by 1 process and 20 times by mpirun -np 2, and aprep over a truncated JPEG 20 times:
# status 1 and one line every time (~3 min on 2 cores). Label data: sanitize.sh runs it in the ASan tree.
apt_cmd_test(NAME test_worker_errors COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_worker_errors.sh 20 LABELS data TIMEOUT 900)
