# libFuzzer targets and the sanitizer tree.
#
# The main (gcc) tree registers three kinds of ctest:
#   test_sanitize_build  (fixture setup) configures and builds ${CMAKE_BINARY_DIR}/sanitize with clang,
#                        -fsanitize=address,undefined (+ fuzzer-no-link coverage), CUDA off, APTRAIN_FUZZ=ON;
#   test_sanitize        (label sanitize) runs that tree's unit tests (labels slurm/kill/fuzz/sanitize/launch
#                        excluded) with sanitizer errors fatal;
#   test_fuzz_<target>   (label fuzz) runs each fuzz target for a fixed number of inputs from its seed
#                        corpus plus the regression inputs in tests/fuzz/regressions/<target>/.
# In the sanitizer tree (APTRAIN_FUZZ=ON) only the fuzz executables are added.
set(APT_FUZZ_TARGETS config safetensors checkpoint)
option(APTRAIN_FUZZ "Build the libFuzzer targets (clang, in the sanitizer tree)" OFF)
if(APTRAIN_FUZZ)
  foreach(t ${APT_FUZZ_TARGETS})
    add_executable(fuzz_${t} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${t}.c)
    target_link_libraries(fuzz_${t} PRIVATE apt)
    target_include_directories(fuzz_${t} PRIVATE ${CMAKE_SOURCE_DIR}/tests ${CMAKE_CURRENT_LIST_DIR})
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  endforeach()
else()
  set(san ${CMAKE_BINARY_DIR}/sanitize)
  apt_cmd_test(NAME test_sanitize_build COMMAND ${CMAKE_CURRENT_LIST_DIR}/sanitize.sh build ${san}
    LABELS sanitize fuzz TIMEOUT 1500)
  set_tests_properties(test_sanitize_build PROPERTIES FIXTURES_SETUP sanitize_tree RUN_SERIAL TRUE)
  # test_worker_errors (label data: 100 runs of the binaries, ~2 min under ASan) runs in this tree too.
  apt_cmd_test(NAME test_sanitize COMMAND ${CMAKE_CURRENT_LIST_DIR}/sanitize.sh test ${san}
    LABELS sanitize TIMEOUT 1200)
  set_tests_properties(test_sanitize PROPERTIES FIXTURES_REQUIRED sanitize_tree RUN_SERIAL TRUE)
  # Inputs per target sized to ~15-25 s each on 2 loaded cores (HDF5 opens make checkpoint inputs slow).
  set(runs_config 20000)
  set(runs_safetensors 20000)
  set(runs_checkpoint 4000)
  foreach(t ${APT_FUZZ_TARGETS})
    apt_cmd_test(NAME test_fuzz_${t} COMMAND ${CMAKE_CURRENT_LIST_DIR}/sanitize.sh fuzz ${san} ${t} ${runs_${t}}
      LABELS fuzz TIMEOUT 600)
    set_tests_properties(test_fuzz_${t} PROPERTIES FIXTURES_REQUIRED sanitize_tree)
  endforeach()
endif()
