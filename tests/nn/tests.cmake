apt_test(NAME test_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model.c LABELS nn)
apt_test(NAME test_nn_ref SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_nn_ref.c LABELS nn PYTHON TIMEOUT 120)
apt_test(NAME test_syncbn_mpi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_syncbn_mpi.c NP 2 LABELS nn)
apt_test(NAME test_syncbn_mpi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_syncbn_mpi.c NP 4 LABELS nn)
apt_test(NAME test_safetensors SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.c LABELS nn)
apt_test(NAME test_paper_configs SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_paper_configs.c LABELS nn)
# ViT: the PyTorch reference fixtures (tests/ref/vit_ref.py: timm-named safetensors of ViT-S/16 and ViT-B/16,
# 88 + 346 MB, and vit.h5) are written once by a fixture-setup test that the ViT tests require. Without
# Debian's torch/h5py the setup writes nothing and the ViT tests skip (77).
apt_cmd_test(NAME vit_ref_fixtures PYTHON LABELS nn vit TIMEOUT 240
  COMMAND sh -c "rm -rf '${CMAKE_BINARY_DIR}/tmp/vit_ref' && (! ${APT_PYTHON} -c 'import torch, h5py' 2>/dev/null || exec ${APT_PYTHON} '${CMAKE_SOURCE_DIR}/tests/ref/vit_ref.py' '${CMAKE_BINARY_DIR}/tmp/vit_ref')")
set_tests_properties(vit_ref_fixtures PROPERTIES FIXTURES_SETUP vit_ref)
apt_test(NAME test_vit_ref_s16 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vit_ref.c ARGS s16 LABELS nn vit PYTHON TIMEOUT 240)
apt_test(NAME test_vit_ref_b16 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vit_ref.c ARGS b16 LABELS nn vit PYTHON TIMEOUT 240)
set_tests_properties(test_vit_ref_s16 test_vit_ref_b16 PROPERTIES FIXTURES_REQUIRED vit_ref)
apt_test(NAME test_senet SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_senet.c LABELS nn PYTHON TIMEOUT 300)
# precision bf16 on every conv family: embeddings and gradients near fp32, stored activations <= 55% of
# fp32's, the guard backend bitwise equal to the CPU.
apt_test(NAME test_bf16_models SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bf16_models.c LABELS nn guard TIMEOUT 600)
# The ViT case alone (label slow: minutes on 2 cores; the sanitizer tree leaves it out)
apt_test(NAME test_bf16_models_vit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bf16_models.c ARGS vit LABELS nn guard vit slow
         TIMEOUT 900)
