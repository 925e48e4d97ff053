// input_shape.h — the model's input shape (C, H, W), one rule for the loader, the trainer and evaluation:
//   crop > 0:   crop x crop (train: RandomResizedCrop output, eval: center crop);
//   resize > 0: the stored size with its short side resized to `resize` (torchvision Resize);
//   otherwise:  the stored size.
// A jpeg dataset whose images differ in size (manifest height/width 0) needs crop: without it a user error
// says so, naming the manifest.
#pragma once
#include "config/config.h"
#include "data/manifest.h"

void apt_input_shape(int resize, int crop, const AptManifest *m, int *C, int *H, int *W);
static inline void apt_input_shape_config(const AptDataConfig *d, const AptManifest *m, int *C, int *H,
                                          int *W) {
    apt_input_shape(d->resize, d->crop, m, C, H, W);
}
