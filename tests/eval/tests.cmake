apt_test(NAME test_metrics_hand SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_metrics_hand.c LABELS eval)
apt_test(NAME test_knn_ref SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_knn_ref.c LABELS eval)
apt_test(NAME test_knn_dist SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_knn_dist.c LABELS eval)
apt_test(NAME test_knn_dist SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_knn_dist.c NP 2 LABELS eval)
apt_test(NAME test_knn_dist SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_knn_dist.c NP 4 LABELS eval)
apt_test(NAME test_leaderboard SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_leaderboard.c LABELS eval)
apt_test(NAME test_eval_io SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_eval_io.c LABELS eval PYTHON)
# benchmark (not a test): tests/bench/bench_eval.c, figures in tests/bench/RESULTS.md
add_executable(bench_eval ${CMAKE_SOURCE_DIR}/tests/bench/bench_eval.c)
target_link_libraries(bench_eval PRIVATE apt)
foreach(np 0 2 4)
  if(np EQUAL 0)
    set(np_arg)
  else()
    set(np_arg NP ${np})
  endif()
  apt_test(NAME test_embed SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_embed.c
           ${np_arg} LABELS eval)
endforeach()
apt_test(NAME test_eval_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_eval_cli.c
         LABELS eval mpi)
# `aptrain eval` builds the model at the run's precision: a bf16 run's final evaluation == aptrain eval of
# its checkpoint (embeddings bitwise); precision=fp32 differs.
apt_cmd_test(NAME test_eval_precision COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_eval_precision.sh LABELS eval TIMEOUT 120)
