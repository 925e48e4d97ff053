// senet_names.c — import names of the released VGGFace2 SENet-50 (senet50_ft / senet50_scratch: the
// Caffe model and its PyTorch port, whose state dict spells the Caffe layer names with '_' for '/').
// Both spellings are accepted ("conv1/7x7_s2/bn.weight" and "conv1_7x7_s2_bn.weight"); our own
// torchvision-style names load as they are. Stage S = 2..5 is layer{S-1}, block J = 1.. is index J-1:
//
//   Caffe / port name                  senet50 name (model.arch: senet50)
//   conv1/7x7_s2                       conv1                      7×7/2 stem conv (no bias)
//   conv1/7x7_s2/bn                    bn1
//   convS_J_1x1_reduce[/bn]            layer{S-1}.{J-1}.conv1 [bn1]       1×1, C→planes, the block's stride
//   convS_J_3x3[/bn]                   layer{S-1}.{J-1}.conv2 [bn2]       3×3
//   convS_J_1x1_increase[/bn]          layer{S-1}.{J-1}.conv3 [bn3]       1×1, planes→4·planes
//   convS_J_1x1_down                   layer{S-1}.{J-1}.se.fc1           SE squeeze FC C→C/16 (bias)
//   convS_J_1x1_up                     layer{S-1}.{J-1}.se.fc2           SE excite FC C/16→C (bias)
//   convS_J_1x1_proj[/bn]              layer{S-1}.{J-1}.downsample.0 [.1] projection shortcut
//   classifier                         fc                          the embedding head (kept fresh when
//                                                                  its shape is the 8631-way classifier)
// Tensor suffixes (.weight, .bias, .running_mean, .running_var) carry over; BN "_bn" / "/bn" selects
// the BN of the same unit; *.num_batches_tracked is ignored by the loader.
#include "senet_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool apt_senet_caffe_name(const char *name, char *out, size_t cap) {
    char base[160];
    size_t len = strlen(name);
    if (len >= sizeof base) return false;
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    size_t blen = (size_t)(dot - name);
    memcpy(base, name, blen);
    base[blen] = '\0';
    for (char *p = base; *p; p++)
        if (*p == '/') *p = '_';
    const char *suffix = dot; // ".weight" ...
    bool bn = blen > 3 && !strcmp(base + blen - 3, "_bn");
    if (bn) base[blen - 3] = '\0';
    int n;
    if (!strcmp(base, "conv1_7x7_s2")) {
        n = snprintf(out, cap, "%s%s", bn ? "bn1" : "conv1", suffix);
        return n > 0 && (size_t)n < cap;
    }
    if (!strcmp(base, "classifier") && !bn) {
        n = snprintf(out, cap, "fc%s", suffix);
        return n > 0 && (size_t)n < cap;
    }
    int S = 0, J = 0, used = 0;
    if (sscanf(base, "conv%d_%d_%n", &S, &J, &used) != 2 || used == 0 || S < 2 || S > 5 || J < 1)
        return false;
    static const struct {
        const char *caffe, *conv, *bn;
    } k_parts[] = {
        {"1x1_reduce", "conv1", "bn1"},   {"3x3", "conv2", "bn2"},
        {"1x1_increase", "conv3", "bn3"}, {"1x1_down", "se.fc1", NULL},
        {"1x1_up", "se.fc2", NULL},       {"1x1_proj", "downsample.0", "downsample.1"},
    };
    for (size_t i = 0; i < sizeof k_parts / sizeof k_parts[0]; i++) {
        if (strcmp(base + used, k_parts[i].caffe)) continue;
        const char *ours = bn ? k_parts[i].bn : k_parts[i].conv;
        if (!ours) return false;
        n = snprintf(out, cap, "layer%d.%d.%s%s", S - 1, J - 1, ours, suffix);
        return n > 0 && (size_t)n < cap;
    }
    return false;
}
