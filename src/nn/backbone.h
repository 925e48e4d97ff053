// backbone.h — what model.c needs from a feature extractor (internal to src/nn/): forward from the input
// to a feature map [n, C, H, W], backward from its gradient. Layer buffers live in the model's arena.
#pragma once
#include "layers.h"

typedef struct AptBackbone AptBackbone;
struct AptBackbone {
    int C, H, W; // feature map shape
    // The dtype of the input the first layer reads: net->act_dtype in the conv families (the model casts
    // the fp32 batch into it, in the backend's activation layout, model.c), APT_F32 otherwise. The
    // features (*feat) are a view of their own form (the head pools bf16 features into fp32).
    AptDType x_dtype;
    void (*forward)(AptBackbone *bb, AptNet *net, int n, AptTensor x, bool train);
    void (*backward)(AptBackbone *bb, AptNet *net, int n, AptTensor x); // from *dfeat; no input gradient
    void (*destroy)(AptBackbone *bb, AptNet *net);
    AptTensor *feat; // the arena buffer holding the features
    float **dfeat; // slot of their gradient's buffer (NULL: the backbone has no parameters, no gradient)
};

// Constructors: the CREATE column of arch_names.h, one signature for all. `variant` is the row's VARIANT
// column; mc gives the sizes that are config keys (model.width, model.hidden). Input [n, C, H, W].
// Parameter names follow torchvision.
typedef AptBackbone *AptBackboneCreate(AptNet *net, const AptModelConfig *mc, int variant, int C, int H,
                                       int W);
AptBackboneCreate apt_smallcnn_create; // variant 1: smallcnn-flat; first stage mc->width channels
AptBackboneCreate apt_mlp_create;      // mc->hidden units; variant unused
AptBackboneCreate apt_resnet_create;   // variant: depth 18 | 34 | 50 | 101
AptBackboneCreate apt_vit_create;      // variant: 0 ViT-S/16, 1 ViT-B/16 (vit.c; timm names)
AptBackboneCreate apt_senet_create;    // SE-ResNet (senet.c); variant: depth 50
