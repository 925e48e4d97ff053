// backbone.h — what model.c needs from a feature extractor (internal to src/nn/): forward from the input
// to a feature map [n, C, H, W], backward from its gradient. Layer buffers live in the model's arena.
#pragma once
#include "layers.h"

typedef struct AptBackbone AptBackbone;
struct AptBackbone {
    int C, H, W; // feature map shape
    void (*forward)(AptBackbone *bb, AptNet *net, int n, const float *x, bool train);
    void (*backward)(AptBackbone *bb, AptNet *net, int n, const float *x); // from *dfeat; no input gradient
    void (*destroy)(AptBackbone *bb, AptNet *net);
    float **feat, **dfeat; // slots of the arena buffers holding the features and their gradient
                           // (dfeat NULL: the backbone has no parameters, no gradient needed)
};

// Names follow torchvision; `width` is the first stage's channels (smallcnn), `hidden` the MLP's units.
AptBackbone *apt_smallcnn_create(AptNet *net, int C, int H, int W, int width, bool flat); // flat: smallcnn-flat
AptBackbone *apt_mlp_create(AptNet *net, int C, int H, int W, int hidden);
// depth: 18 | 34 | 50 | 101
AptBackbone *apt_resnet_create(AptNet *net, int depth, int C, int H, int W);
