// resnet.c — ResNet-18/34/50/101 backbones with torchvision's topology and parameter names
// (torchvision.models.resnet, v1.5: stride in the bottleneck's 3×3 conv):
//   conv1 7×7/2 → bn1 → relu → maxpool 3×3/2 → layer1..layer4 → (head: avgpool → fc)
// The classifier `fc` is the embedding head's linear layer (head.c), so state dicts map 1:1.
#include "backbone.h"
#include "resblock.h"

#include "core/check.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    AptBackbone bb;
    AptConvBN stem;
    AptMaxPool pool;
    AptResBlock *blocks;
    int n_blocks;
} ResNet;

static void resnet_forward(AptBackbone *bb, AptNet *net, int n, AptTensor x, bool train) {
    ResNet *m = (ResNet *)bb;
    apt_convbn_forward(&m->stem, net, n, x, train);
    apt_maxpool_forward(&m->pool, net, n, m->stem.bn.y);
    AptTensor in = m->pool.y;
    for (int i = 0; i < m->n_blocks; i++) {
        apt_resblock_forward(&m->blocks[i], net, n, in, train);
        in = apt_resblock_y(&m->blocks[i]);
    }
}

static void resnet_backward(AptBackbone *bb, AptNet *net, int n, AptTensor x) {
    ResNet *m = (ResNet *)bb;
    for (int i = m->n_blocks - 1; i >= 0; i--) {
        AptTensor in = i ? apt_resblock_y(&m->blocks[i - 1]) : m->pool.y;
        float *din = i ? apt_resblock_dy(&m->blocks[i - 1]) : m->pool.dy;
        apt_resblock_backward(&m->blocks[i], net, n, in, din);
        // a block's backward ends with its downsample branch, registered last: the whole block is done
        apt_net_grads_ready(net, m->blocks[i].u[0].conv.w);
    }
    apt_maxpool_backward(&m->pool, net, n, m->stem.bn.dy);
    apt_convbn_backward(&m->stem, net, n, x, NULL);
    apt_net_grads_ready(net, m->stem.conv.w);
}

static void resnet_destroy(AptBackbone *bb, AptNet *net) {
    ResNet *m = (ResNet *)bb;
    apt_conv_release(&m->stem.conv, net);
    for (int i = 0; i < m->n_blocks; i++)
        apt_resblock_release(&m->blocks[i], net);
    free(m->blocks);
    free(m);
}

AptBackbone *apt_resnet_create(AptNet *net, const AptModelConfig *mc, int depth, int C, int H, int W) {
    (void)mc;
    static const int cfg18[4] = {2, 2, 2, 2}, cfg34[4] = {3, 4, 6, 3}, cfg101[4] = {3, 4, 23, 3};
    const int *layers;
    bool bottleneck;
    switch (depth) {
    case 18:
        layers = cfg18, bottleneck = false;
        break;
    case 34:
        layers = cfg34, bottleneck = false;
        break;
    case 50:
        layers = cfg34, bottleneck = true;
        break;
    case 101:
        layers = cfg101, bottleneck = true;
        break;
    default:
        apt_fatal(__FILE__, __LINE__, "resnet: no stage layout for depth %d (arch_names.h VARIANT column)",
                  depth);
    }
    ResNet *m = apt_calloc(1, sizeof *m);
    m->n_blocks = layers[0] + layers[1] + layers[2] + layers[3];
    m->blocks = apt_calloc((size_t)m->n_blocks, sizeof *m->blocks); // fixed: the arena holds slot addresses
    // The stem's gradients come after every block's, when the shared regions (resblock.c) are free.
    apt_net_dy_route(net, 2, (int[]){APT_DY_CONV, APT_DY_SIDE});
    apt_convbn_init(&m->stem, net, "conv1", "bn1", C, H, W, 64, 7, 2, 3, true);
    apt_net_dy_route(net, 1, (int[]){APT_DY_OUT + 1}); // block 0 (parity 0) writes its input gradient here
    apt_maxpool_init(&m->pool, net, 64, m->stem.conv.d.P, m->stem.conv.d.Q, 3, 2, 1);
    int inplanes = 64, h = m->pool.d.P, w = m->pool.d.Q, bi = 0;
    for (int s = 0; s < 4; s++) {
        int planes = 64 << s;
        for (int j = 0; j < layers[s]; j++) {
            snprintf(net->prefix, sizeof net->prefix, "layer%d.%d.", s + 1, j);
            AptResBlock *b = &m->blocks[bi];
            apt_resblock_init(b, net, bottleneck, inplanes, planes, (j == 0 && s > 0) ? 2 : 1, h, w, bi % 2);
            bi++;
            inplanes = b->C;
            h = b->H;
            w = b->W;
        }
    }
    net->prefix[0] = '\0';
    AptResBlock *last = &m->blocks[m->n_blocks - 1];
    m->bb.C = last->C;
    m->bb.H = last->H;
    m->bb.W = last->W;
    m->bb.x_dtype = net->act_dtype; // the chain from the input on
    m->bb.forward = resnet_forward;
    m->bb.backward = resnet_backward;
    m->bb.destroy = resnet_destroy;
    m->bb.feat = &last->u[last->n_units - 1].bn.y;
    m->bb.dfeat = &last->u[last->n_units - 1].bn.dy;
    return &m->bb;
}
