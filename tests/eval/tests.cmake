apt_test(NAME test_metrics_hand SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_metrics_hand.c LABELS eval)
apt_test(NAME test_knn_ref SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_knn_ref.c LABELS eval)
