// resblock.h — ResNet residual blocks (internal to src/nn/). Names are registered relative to the
// AptNet prefix ("layer2.1."), giving torchvision's "layer2.1.conv1.weight", "layer2.0.downsample.0.weight".
#pragma once
#include "layers.h"

typedef struct {
    bool bottleneck, has_ds;
    int n_units;
    AptConvBN u[3]; // conv1/bn1, conv2/bn2, [conv3/bn3]
    AptConvBN ds;   // downsample.0 (conv 1×1) / downsample.1 (BN)
    int C_in, HW_in;
    int C, H, W; // output shape
} AptResBlock;

// parity: the block's index modulo 2 (its output gradient's region, APT_DY_OUT + parity).
void apt_resblock_init(AptResBlock *b, AptNet *net, bool bottleneck, int inplanes, int planes, int stride,
                       int H, int W, int parity);
void apt_resblock_forward(AptResBlock *b, AptNet *net, int n, AptTensor x, bool train);
// Reads apt_resblock_dy(b); writes dx (may be NULL).
void apt_resblock_backward(AptResBlock *b, AptNet *net, int n, AptTensor x, float *dx);
AptTensor apt_resblock_y(AptResBlock *b);
float *apt_resblock_dy(AptResBlock *b);
void apt_resblock_release(AptResBlock *b, AptNet *net);
