set(APT_DATA_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
apt_test(NAME test_shards SOURCES ${APT_DATA_TEST_DIR}/test_shards.c ${CMAKE_SOURCE_DIR}/data_prep/shard_writer.c LABELS data)
apt_test(NAME test_sampler SOURCES ${APT_DATA_TEST_DIR}/test_sampler.c LABELS data)
apt_test(NAME test_loader SOURCES ${APT_DATA_TEST_DIR}/test_loader.c ${CMAKE_SOURCE_DIR}/data_prep/shard_writer.c LABELS data)
