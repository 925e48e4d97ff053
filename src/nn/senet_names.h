// senet_names.h — the released VGGFace2 SENet-50 names (Caffe model and its PyTorch port) mapped onto
// senet50's torchvision-style names at import (model.pretrained): see the table in senet_names.c.
#pragma once
#include <stdbool.h>
#include <stddef.h>

// If `name` is a Caffe/port tensor name of the table, write our name to out (cap bytes) and return true.
bool apt_senet_caffe_name(const char *name, char *out, size_t cap);
