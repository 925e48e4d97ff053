# End-to-end launch tests: the real aptrain binary under Slurm and under mpirun with a lost rank.
add_executable(apt_synth ${CMAKE_CURRENT_LIST_DIR}/apt_synth.c)
target_link_libraries(apt_synth PRIVATE apt)
target_include_directories(apt_synth PRIVATE ${CMAKE_SOURCE_DIR}/tests/train)
# A private one-node Slurm (munged, slurmctld, slurmd started and stopped by PID by the test): a 2-task job
# to the end, then a job pre-empted with USR1, requeued and resumed to bitwise-equal final state (~50 s).
apt_cmd_test(NAME test_slurm COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_slurm.sh 540 LABELS slurm launch TIMEOUT 600)
set_tests_properties(test_slurm PROPERTIES RUN_SERIAL TRUE)
