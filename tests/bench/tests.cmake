# Benchmarks: built with the tests so they keep compiling, never registered with ctest (DESIGN §7);
# their figures go to tests/bench/RESULTS.md.
add_executable(bench_loss ${CMAKE_CURRENT_LIST_DIR}/bench_loss.c)
target_link_libraries(bench_loss PRIVATE apt)
