# Checkpoint I/O (src/ckpt/): round trip, damaged and mismatched files, run-directory policy, and the
# format-1 golden file in data/.
apt_test(NAME test_checkpoint SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_checkpoint.c LABELS ckpt)
