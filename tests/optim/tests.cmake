apt_test(NAME test_optim SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_optim.c LABELS optim PYTHON TIMEOUT 120)
apt_test(NAME test_schedule SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_schedule.c LABELS optim)
apt_test(NAME test_clip SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_clip.c LABELS optim)
apt_test(NAME test_optim_pass SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_optim_pass.c LABELS optim)
