# Checkpoint I/O (src/ckpt/): round trip, damaged and mismatched files, run-directory policy, format-1 golden file.
apt_test(NAME test_checkpoint SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_checkpoint.c LABELS ckpt)
