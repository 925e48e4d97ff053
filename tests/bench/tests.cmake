# Benchmarks (not tests). CPU benchmarks live beside their area's tests; the GPU ones are built here when
# CUDA is enabled, packed by tests/gpu/pack.sh and run by tests/gpu/run.sh on a GPU host. The one test here
# checks the PyTorch peers build the architecture they are asked for (CPU, no benchmark is run).
apt_cmd_test(NAME test_torch_peers PYTHON LABELS bench TIMEOUT 240
  COMMAND ${APT_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_torch_peers.py)
if(APT_HAVE_CUDA)
  add_executable(bench_loss_cuda ${CMAKE_CURRENT_LIST_DIR}/bench_loss_cuda.c)
  target_link_libraries(bench_loss_cuda PRIVATE apt)
  add_executable(bench_nccl ${CMAKE_CURRENT_LIST_DIR}/bench_nccl.c ${CMAKE_CURRENT_LIST_DIR}/bench_nccl_spin.cu)
  target_link_libraries(bench_nccl PRIVATE apt)
endif()
if(APT_HAVE_CUDA)
  add_executable(bench_resnet_cuda ${CMAKE_CURRENT_LIST_DIR}/bench_resnet_cuda.c)
  target_link_libraries(bench_resnet_cuda PRIVATE apt)
endif()
# Scale rehearsal (issue 21): a synthetic iNaturalist / VGGFace2 download at the real layout and counts
# (tests/bench/gen_scale_dataset.c), then aprep, verify, check, training, resume and evaluation timed per
# stage by tests/bench/scale_rehearsal.sh; figures in RESULTS.md. CI runs a tiny fraction (label scale).
add_executable(gen_scale_dataset ${CMAKE_CURRENT_LIST_DIR}/gen_scale_dataset.c)
target_link_libraries(gen_scale_dataset PRIVATE PkgConfig::TURBOJPEG pthread m)
# A tiny fraction of both datasets (~1 min on 2 cores): every stage runs and every check holds (aprep
# --resume equal byte for byte, resumed training equal bitwise, the leaderboard written).
apt_cmd_test(NAME scale_rehearsal_small LABELS scale TIMEOUT 300
  COMMAND bash -c "${CMAKE_CURRENT_LIST_DIR}/scale_rehearsal.sh --dataset inaturalist --fraction 0.01 --steps 20 --work ${CMAKE_BINARY_DIR}/scale_small_inat && ${CMAKE_CURRENT_LIST_DIR}/scale_rehearsal.sh --dataset vggface2 --fraction 0.003 --steps 20 --work ${CMAKE_BINARY_DIR}/scale_small_vgg")
