// safetensors.h — import torchvision/timm-named weights (model.pretrained) into the parameter store.
// Format: 8-byte little-endian header length, a JSON header {"name": {"dtype", "shape", "data_offsets"}},
// then raw little-endian data. F32, F16, BF16 and F64 tensors are converted to float32.
#pragma once
#include "params.h"

// Every tensor of the store (parameters and BN running statistics) must be in the file with its shape,
// except the embedding head (is_head: `fc.*`), which keeps its fresh init when missing or of another
// shape (an ImageNet classifier). Tensors of the file that the model lacks are errors too, except
// `*.num_batches_tracked` and timm's ImageNet classifier `head.weight`/`head.bias`. A ViT `pos_embed` of
// another square patch grid is resampled to the model's (timm: bicubic, antialiased; pos_embed.h). Any problem: ONE user-error line naming the file and listing the tensors.
// Returns the number of tensors loaded.
int apt_safetensors_load(AptParamStore *s, const char *path);
// Write every tensor of the store as F32 with its name (tests, export). Returns 0 on success.
int apt_safetensors_save(const AptParamStore *s, const char *path);
