// senet.c — SE-ResNet-50 (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018) with the topology of
// the VGGFace2 paper's SENet-50 (Cao et al. 2018; the released Caffe model and its PyTorch port):
//   conv1 7×7/2 → bn1 → relu → maxpool 3×3/2 (ceil) → layer1..layer4 (3, 4, 6, 3 SE bottlenecks) → head
//   SE bottleneck: u = bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))),
//                  s = sigmoid(fc2(relu(fc1(gap(u))))),  fc1: C→C/16, fc2: C/16→C, both with bias,
//                  y = relu(u * s + id(x)),  id = x or downsample = conv1×1(stride) → BN.
// The stride of a downsampling block sits on its FIRST 1×1 conv (conv1, Caffe's "1x1_reduce"), as in the
// original ResNet and the Caffe SENet-50 — torchvision's ResNet v1.5 puts it on the 3×3 (conv2) instead.
// The stem's max pool is Caffe's, as in the released model: 3×3/2, no padding, output size rounded UP
// (PyTorch's ceil_mode=True); torchvision's is pad 1 rounded down — the same size for even inputs
// (112 → 56), windows shifted by one pixel. The pooling kernels clip every window to the input, so only
// the output size differs from apt_pool_desc_init's.
//
// Parameter names are torchvision-style ("layer2.0.conv1.weight", "layer2.0.downsample.0.weight") plus
// the SE module's "layer2.0.se.fc1.weight" [C/16, C, 1, 1] / ".bias" and "se.fc2" [C, C/16, 1, 1]: 1×1
// convolutions as in the Caffe model (the layer runs them as linear maps on the pooled [n, C] vector,
// the same memory layout). The Caffe/PyTorch-port names (conv2_1_1x1_reduce, ...) are mapped onto these
// at import: senet_names.c.
#include "backbone.h"

#include "core/check.h"

#include <stdio.h>
#include <stdlib.h>

#define SE_REDUCTION 16

typedef struct {
    int C, Cr, HW;
    int w1, b1, w2, b2;      // se.fc1 [Cr, C, 1, 1] + [Cr], se.fc2 [C, Cr, 1, 1] + [C]
    float *pooled, *dpooled; // [b, C]   squeeze
    float *h, *dh;           // [b, Cr]  fc1 → ReLU (in place)
    float *s, *ds;           // [b, C]   fc2 → sigmoid (in place): the gate
    AptTensor y;             // [b, C, HW] u * s; then + id and ReLU in place: the block output (bf16 under
                             // precision bf16, like u; the squeeze/excite path [b, C] stays fp32)
    float *dy;
} SEModule;

typedef struct {
    AptConvBN u[3]; // conv1/bn1 (1×1, stride), conv2/bn2 (3×3), conv3/bn3 (1×1, ×4)
    SEModule se;
    bool has_ds;
    AptConvBN ds; // downsample.0 / downsample.1
    int C_in, HW_in;
    int C, H, W;
} SEBlock;

typedef struct {
    AptBackbone bb;
    AptConvBN stem;
    AptMaxPool pool;
    SEBlock *blocks;
    int n_blocks;
} SENet;

static void se_init(SEModule *se, AptNet *net, int C, int HW) {
    se->C = C;
    se->Cr = C / SE_REDUCTION;
    se->HW = HW;
    int Cr = se->Cr;
    // torch Conv2d's default init: U(±1/sqrt(fan_in)) for weight and bias
    se->w1 = apt_net_param(net, "se.fc1.weight", 4, (int[]){Cr, C, 1, 1}, false, APT_INIT_UNIFORM_FAN_IN, C);
    se->b1 = apt_net_param(net, "se.fc1.bias", 1, &Cr, false, APT_INIT_UNIFORM_FAN_IN, C);
    se->w2 = apt_net_param(net, "se.fc2.weight", 4, (int[]){C, Cr, 1, 1}, false, APT_INIT_UNIFORM_FAN_IN, Cr);
    se->b2 = apt_net_param(net, "se.fc2.bias", 1, &C, false, APT_INIT_UNIFORM_FAN_IN, Cr);
    size_t b = (size_t)net->b_max;
    apt_acts_floats(&net->acts, &se->pooled, b * C);
    apt_acts_floats(&net->acts, &se->h, b * Cr);
    apt_acts_floats(&net->acts, &se->s, b * C);
    apt_net_act(net, &se->y, b * C * HW, net->act_dtype);
    // gradients live only during this block's backward, except dy (written by the next block's backward)
    apt_net_dy(net, &se->dpooled, b * C);
    apt_net_dy(net, &se->dh, b * Cr);
    apt_net_dy(net, &se->ds, b * C);
    apt_net_dy(net, &se->dy, b * C * HW);
    apt_net_need_scratch(net, b * C * HW); // the squeeze path's gradient, added into du
}

// y = u * sigmoid(fc2(relu(fc1(gap(u)))))
static void se_forward(SEModule *se, AptNet *net, int n, AptTensor u) {
    AptBackend *be = net->be;
    be->gap_forward(be, n, se->C, se->HW, u, se->pooled);
    be->linear_forward(be, n, se->C, se->Cr, se->pooled, apt_net_w(net, se->w1), apt_net_w(net, se->b1),
                       se->h);
    be->relu_forward(be, (size_t)n * se->Cr, apt_f32(se->h), apt_f32(se->h));
    be->linear_forward(be, n, se->Cr, se->C, se->h, apt_net_w(net, se->w2), apt_net_w(net, se->b2), se->s);
    be->sigmoid_forward(be, (size_t)n * se->C, se->s, se->s);
    be->chscale_forward(be, n, se->C, se->HW, u, se->s, se->y);
}

// From se->dy (the gradient of u * s): du = dy * s + gap_backward(d pooled), both paths of u.
static void se_backward(SEModule *se, AptNet *net, int n, AptTensor u, float *du) {
    AptBackend *be = net->be;
    be->chscale_backward(be, n, se->C, se->HW, u, se->s, apt_grad_of(se->y, se->dy), apt_grad_of(u, du),
                         se->ds);
    be->sigmoid_backward(be, (size_t)n * se->C, se->s, se->ds, se->ds);
    be->linear_backward(be, n, se->Cr, se->C, se->h, apt_net_w(net, se->w2), se->ds, se->dh,
                        apt_net_g(net, se->w2), apt_net_g(net, se->b2));
    be->relu_backward(be, (size_t)n * se->Cr, apt_f32(se->h), apt_f32(se->dh), apt_f32(se->dh));
    be->linear_backward(be, n, se->C, se->Cr, se->pooled, apt_net_w(net, se->w1), se->dh, se->dpooled,
                        apt_net_g(net, se->w1), apt_net_g(net, se->b1));
    be->gap_backward(be, n, se->C, se->HW, se->dpooled, apt_grad_of(u, net->scratch)); // in du's layout
    be->axpy(be, (size_t)n * se->C * se->HW, 1.0f, net->scratch, du);
}

// Gradient buffers by liveness as in resblock.c; the SE module's output gradient is the block's (OUT),
// and it hands its input gradient to u2's BN region (BN), so u2 is an inner unit here.
static void seblock_init(SEBlock *b, AptNet *net, int inplanes, int planes, int stride, int H, int W,
                         int parity) {
    int out = 4 * planes;
    apt_net_dy_route(net, 10,
                     (int[]){APT_DY_CONV, APT_DY_BN, APT_DY_CONV, APT_DY_BN, APT_DY_CONV, APT_DY_BN,
                             APT_DY_OWN, APT_DY_OWN, APT_DY_OWN,
                             APT_DY_OUT + parity}); // u0, u1, u2; se: dpooled, dh, ds, dy
    b->C_in = inplanes;
    b->HW_in = H * W;
    apt_convbn_init(&b->u[0], net, "conv1", "bn1", inplanes, H, W, planes, 1, stride, 0,
                    true); // Caffe stride
    int H1 = b->u[0].conv.d.P, W1 = b->u[0].conv.d.Q;
    apt_convbn_init(&b->u[1], net, "conv2", "bn2", planes, H1, W1, planes, 3, 1, 1, true);
    apt_convbn_init(&b->u[2], net, "conv3", "bn3", planes, H1, W1, out, 1, 1, 0, false);
    b->C = out;
    b->H = H1;
    b->W = W1;
    se_init(&b->se, net, out, H1 * W1);
    b->has_ds = stride != 1 || inplanes != out;
    if (b->has_ds) {
        apt_net_dy_route(net, 2, (int[]){APT_DY_CONV, APT_DY_SIDE});
        apt_convbn_init(&b->ds, net, "downsample.0", "downsample.1", inplanes, H, W, out, 1, stride, 0,
                        false);
        apt_net_need_scratch(net, (size_t)net->b_max * inplanes * H * W);
    }
}

static void seblock_forward(SEBlock *b, AptNet *net, int n, AptTensor x, bool train) {
    AptTensor in = x;
    for (int i = 0; i < 3; i++) {
        apt_convbn_forward(&b->u[i], net, n, in, train);
        in = b->u[i].bn.y;
    }
    se_forward(&b->se, net, n, b->u[2].bn.y);
    AptTensor id = x;
    if (b->has_ds) {
        apt_convbn_forward(&b->ds, net, n, x, train);
        id = b->ds.bn.y;
    }
    size_t len = (size_t)n * b->C * b->H * b->W;
    apt_act_add(net, len, b->se.y, id, b->se.y);
    apt_act_relu(net, len, b->se.y);
}

// Reads b->se.dy; writes dx (may be NULL).
static void seblock_backward(SEBlock *b, AptNet *net, int n, AptTensor x, float *dx) {
    float *dy = b->se.dy;
    size_t len = (size_t)n * b->C * b->H * b->W;
    apt_act_relu_backward(net, len, b->se.y, dy); // the gradient of u * s + id
    if (b->has_ds) net->be->copy(net->be, b->ds.bn.dy, dy, len * sizeof(float), APT_COPY_D2D);
    se_backward(&b->se, net, n, b->u[2].bn.y, b->u[2].bn.dy);
    for (int i = 2; i >= 0; i--) {
        AptTensor in = i ? b->u[i - 1].bn.y : x;
        float *din = i ? b->u[i - 1].bn.dy : dx;
        apt_convbn_backward(&b->u[i], net, n, in, din);
    }
    size_t len_in = (size_t)n * b->C_in * b->HW_in;
    if (b->has_ds) {
        apt_convbn_backward(&b->ds, net, n, x, dx ? net->scratch : NULL);
        if (dx) net->be->axpy(net->be, len_in, 1.0f, net->scratch, dx);
    } else if (dx) {
        net->be->axpy(net->be, len_in, 1.0f, dy, dx);
    }
}

static void seblock_release(SEBlock *b, AptNet *net) {
    for (int i = 0; i < 3; i++)
        apt_conv_release(&b->u[i].conv, net);
    if (b->has_ds) apt_conv_release(&b->ds.conv, net);
}

static void senet_forward(AptBackbone *bb, AptNet *net, int n, AptTensor x, bool train) {
    SENet *m = (SENet *)bb;
    apt_convbn_forward(&m->stem, net, n, x, train);
    apt_maxpool_forward(&m->pool, net, n, m->stem.bn.y);
    AptTensor in = m->pool.y;
    for (int i = 0; i < m->n_blocks; i++) {
        seblock_forward(&m->blocks[i], net, n, in, train);
        in = m->blocks[i].se.y;
    }
}

static void senet_backward(AptBackbone *bb, AptNet *net, int n, AptTensor x) {
    SENet *m = (SENet *)bb;
    for (int i = m->n_blocks - 1; i >= 0; i--) {
        AptTensor in = i ? m->blocks[i - 1].se.y : m->pool.y;
        float *din = i ? m->blocks[i - 1].se.dy : m->pool.dy;
        seblock_backward(&m->blocks[i], net, n, in, din);
        // every tensor of the block is registered at or after its conv1 (SE and downsample last)
        apt_net_grads_ready(net, m->blocks[i].u[0].conv.w);
    }
    apt_maxpool_backward(&m->pool, net, n, m->stem.bn.dy);
    apt_convbn_backward(&m->stem, net, n, x, NULL);
    apt_net_grads_ready(net, m->stem.conv.w);
}

static void senet_destroy(AptBackbone *bb, AptNet *net) {
    SENet *m = (SENet *)bb;
    apt_conv_release(&m->stem.conv, net);
    for (int i = 0; i < m->n_blocks; i++)
        seblock_release(&m->blocks[i], net);
    free(m->blocks);
    free(m);
}

// 3×3/2 pad 0 with ceil rounding: P = ceil((H - 3) / 2) + 1 (every window starts inside the input).
static void caffe_maxpool_init(AptMaxPool *l, AptNet *net, int C, int H, int W) {
    APT_CHECK(H >= 3 && W >= 3, "senet: stem output %dx%d smaller than the 3x3 pool", H, W);
    apt_pool_desc_init(&l->d, net->b_max, C, H, W, 3, 2, 0);
    l->d.P = (H - 3 + 1) / 2 + 1;
    l->d.Q = (W - 3 + 1) / 2 + 1;
    size_t out = (size_t)net->b_max * C * l->d.P * l->d.Q;
    apt_net_act(net, &l->y, out, net->act_dtype);
    apt_net_dy(net, &l->dy, out);
    apt_acts_request_saved(&net->acts, &l->idx, out * sizeof(int));
}

AptBackbone *apt_senet_create(AptNet *net, const AptModelConfig *mc, int depth, int C, int H, int W) {
    (void)mc;
    if (depth != 50)
        apt_fatal(__FILE__, __LINE__, "senet: no stage layout for depth %d (arch_names.h VARIANT column)",
                  depth);
    static const int layers[4] = {3, 4, 6, 3};
    SENet *m = apt_calloc(1, sizeof *m);
    m->n_blocks = layers[0] + layers[1] + layers[2] + layers[3];
    m->blocks = apt_calloc((size_t)m->n_blocks, sizeof *m->blocks); // fixed: the arena holds slot addresses
    // the stem's gradients run after every block's: the shared regions are free (resnet.c)
    apt_net_dy_route(net, 2, (int[]){APT_DY_CONV, APT_DY_SIDE});
    apt_convbn_init(&m->stem, net, "conv1", "bn1", C, H, W, 64, 7, 2, 3, true);
    apt_net_dy_route(net, 1, (int[]){APT_DY_OUT + 1}); // block 0 (parity 0) writes its input gradient here
    caffe_maxpool_init(&m->pool, net, 64, m->stem.conv.d.P, m->stem.conv.d.Q);
    int inplanes = 64, h = m->pool.d.P, w = m->pool.d.Q, bi = 0;
    for (int s = 0; s < 4; s++) {
        for (int j = 0; j < layers[s]; j++) {
            snprintf(net->prefix, sizeof net->prefix, "layer%d.%d.", s + 1, j);
            SEBlock *b = &m->blocks[bi];
            seblock_init(b, net, inplanes, 64 << s, (j == 0 && s > 0) ? 2 : 1, h, w, bi % 2);
            bi++;
            inplanes = b->C;
            h = b->H;
            w = b->W;
        }
    }
    net->prefix[0] = '\0';
    SEBlock *last = &m->blocks[m->n_blocks - 1];
    m->bb.C = last->C;
    m->bb.H = last->H;
    m->bb.W = last->W;
    m->bb.x_dtype = net->act_dtype; // the chain from the input on
    m->bb.forward = senet_forward;
    m->bb.backward = senet_backward;
    m->bb.destroy = senet_destroy;
    m->bb.feat = &last->se.y;
    m->bb.dfeat = &last->se.dy;
    return &m->bb;
}
