# Config: key table, YAML loader, overrides, dump round trip, error messages (exact file:line:col).
foreach(t test_config_roundtrip test_config_errors test_config_parse)
  apt_test(NAME ${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c LABELS config)
  target_compile_definitions(${t} PRIVATE APT_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endforeach()
# --help-config documents every key of config_keys.def (row per key, choices as the loader accepts them).
apt_cmd_test(NAME aptrain_help_config COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_help_config.sh $<TARGET_FILE:aptrain>
  ${CMAKE_SOURCE_DIR}/src/config/config_keys.def LABELS config)
# The shipped Recall@k recipes train (3 steps, small sizes, CPU) and evaluate to a leaderboard.
apt_cmd_test(NAME test_recipes_recallk COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_recipes_recallk.sh LABELS config train
  TIMEOUT 300)
