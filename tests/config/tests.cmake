# Config: key table, YAML loader, overrides, dump round trip, error messages (exact file:line:col).
foreach(t test_config_roundtrip test_config_errors test_config_parse)
  apt_test(NAME ${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c LABELS config)
  target_compile_definitions(${t} PRIVATE APT_TEST_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
endforeach()
apt_cmd_test(NAME aptrain_help_config COMMAND $<TARGET_FILE:aptrain> --help-config LABELS config)
