// layers.h — the layers models are built from (internal to src/nn/). Each layer keeps indices into the
// flat parameter store and owns its output y and output gradient dy (arena buffers sized for b_max).
// Convention: forward(x) writes y; backward(dy already filled) writes dx (NULL: not needed) and
// accumulates parameter gradients into the store.
#pragma once
#include "acts.h"
#include "backend/backend.h"
#include "config/config.h"
#include "dist/comm.h"
#include "params.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    APT_INIT_ZERO = 0,
    APT_INIT_ONE,
    APT_INIT_KAIMING_OUT,
    APT_INIT_UNIFORM_FAN_IN,
    APT_INIT_NORMAL
} AptInitKind;

typedef struct {
    int idx;
    AptInitKind kind;
    double arg; // fan (kaiming, uniform) or std (normal)
} AptInitSpec;

// A stored activation (an arena buffer a later backward reads) is a view (backend.h, AptTensor): fp32
// NCHW, or, in the bf16 chain (AptNet.act_dtype APT_BF16: precision bf16 in the conv families), bf16 in
// the backend's activation layout. Its gradient is fp32 in the same layout (apt_grad_of). Layers pass
// views to the ops and never look at their dtype: the backend runs the form the views say.
static inline AptTensor apt_grad_of(AptTensor y, const float *dy) {
    return apt_tensor(dy, APT_F32, y.layout);
}

// Build-time context shared by the layers of one model.
typedef struct {
    AptBackend *be;
    AptParamStore *ps;
    AptActs acts;
    AptComm *comm; // sync BatchNorm only
    AptBNMode bn_mode;
    int b_max;
    uint64_t seed;
    AptInitSpec *init; // one entry per registered tensor
    int n_init, cap_init;
    size_t scratch_floats; // largest scratch any layer asked for
    float *scratch;
    double bn_count_scale; // per forward: global samples / local samples (sync BN), else 1
    char prefix[64];       // prepended to registered names ("" or "layer2.1.")
    int dy_keys[16];       // sharing keys of the next apt_net_dy requests, in order (apt_net_dy_route)
    int dy_nkeys, dy_next;
    void (*grad_ready)(void *ctx, size_t lo); // backward progress hook (model.h), may be NULL
    void *grad_ready_ctx;
    uint32_t rng_epoch, rng_step, rng_sample0; // draw position of the next train forward (drop-path):
                                               // apt_model_set_rng_position; sample0 = global index of row 0
    // The precision, decided once when the model is built (apt_model_create_ex) and read nowhere else
    // but at layer set-up: the dtype and layout of the conv families' stored activations. fp32: APT_F32 /
    // APT_NCHW; bf16: APT_BF16 in the backend's act_layout (convolutions without bias, BatchNorm, max
    // pooling, the residual adds and SE's channel scale; every other layer stays fp32).
    AptDType act_dtype;
    AptLayout act_layout;
} AptNet;

void apt_net_init(AptNet *net, AptBackend *be, AptParamStore *ps, AptComm *comm, AptBNMode bn, int b_max,
                  uint64_t seed);
// Register prefix+name with its initialiser; returns the parameter index.
int apt_net_param(AptNet *net, const char *name, int ndim, const int *shape, bool is_buffer, AptInitKind kind,
                  double arg);
void apt_net_need_scratch(AptNet *net, size_t floats);
// Request the gradient buffer of a layer output: a buffer of its own, or the region of the next key
// routed by apt_net_dy_route.
void apt_net_dy(AptNet *net, float **slot, size_t floats);
// Gradient regions of residual networks, shared by liveness (resblock.c has the argument): the input
// gradients of the convolutions (CONV), of the inner BatchNorms (BN), of the downsample branch's BN
// (SIDE), and a block's output gradient (OUT + block parity: a block writes its input gradient into
// the previous block's). Each region is as large as its largest user.
enum { APT_DY_OWN = 0, APT_DY_CONV = 1, APT_DY_BN = 2, APT_DY_SIDE = 3, APT_DY_OUT = 4 /* 4, 5 */ };
// The next n apt_net_dy requests take keys[0..n) (APT_DY_OWN: a buffer of its own); every routed key
// must be taken before the next route (checked).
void apt_net_dy_route(AptNet *net, int n, const int *keys);
// Request a stored activation of n elements of `dtype`: APT_BF16 in net->act_layout, or APT_F32 NCHW.
void apt_net_act(AptNet *net, AptTensor *a, size_t n, AptDType dtype);

// The elementwise steps on stored activations, in whichever form they are (in place).
static inline void apt_act_relu(AptNet *net, size_t n, AptTensor y) {
    net->be->relu_forward(net->be, n, y, y);
}
static inline void apt_act_relu_backward(AptNet *net, size_t n, AptTensor y, float *dy) { // dy in place
    net->be->relu_backward(net->be, n, y, apt_grad_of(y, dy), apt_grad_of(y, dy));
}
static inline void apt_act_add(AptNet *net, size_t n, AptTensor a, AptTensor b, AptTensor y) { // y = a + b
    net->be->add(net->be, n, a, b, y);
}
// Finalize the store, allocate the arena and draw every initial value from rng(seed, APT_RNG_INIT, index).
void apt_net_finalize(AptNet *net);
void apt_net_free(AptNet *net);
// Backward progress: every gradient at or after parameter `idx` (in registration order, so at element
// offsets >= its offset) is final. Layers call it when a group of parameters is done.
static inline void apt_net_grads_ready(AptNet *net, int idx) {
    if (net->grad_ready && idx >= 0) net->grad_ready(net->grad_ready_ctx, net->ps->p[idx].offset);
}
static inline float *apt_net_w(AptNet *net, int idx) {
    return idx < 0 ? NULL : apt_params_w(net->ps, idx);
}
// Gradient pointer, or NULL for a frozen (non-trainable) tensor.
static inline float *apt_net_g(AptNet *net, int idx) {
    return (idx < 0 || !net->ps->p[idx].trainable) ? NULL : apt_params_g(net->ps, idx);
}

// ---- conv2d.c ----
typedef struct {
    AptConvDesc d;
    int w, b;     // parameter indices (b = -1: no bias)
    // d.dtype, d.layout: the form the conv runs in, net->act_dtype unless it has a bias (then fp32)
    bool widen_x; // an fp32 conv (with bias) reading a bf16 input: apt_conv_input_form
    AptTensor y;
    float *dy; // fp32, in y's layout
    // The weights and dy in the conv's dtype when it is not fp32: w rounded at forward [K, C, R, S] (kept
    // for backward), dy rounded at backward (one region shared by every layer); unused (p NULL) in fp32.
    AptTensor wq, dyq;
} AptConv;
void apt_conv_init(AptConv *l, AptNet *net, const char *name, int C, int H, int W, int K, int k, int stride,
                   int pad, bool bias);
// The form of the conv's input (a view whose pointer may not be set yet), when it is not the net's
// activations' form: a conv with bias whose input is a bf16 activation (the flat small CNN's conv4 under
// precision bf16) widens it to fp32 NCHW in net->scratch and hands its input gradient back in the input's
// layout. Call right after apt_conv_init.
void apt_conv_input_form(AptConv *l, AptNet *net, AptTensor x);
void apt_conv_forward(AptConv *l, AptNet *net, int n, AptTensor x);
void apt_conv_backward(AptConv *l, AptNet *net, int n, AptTensor x, float *dx);
void apt_conv_release(AptConv *l, AptNet *net);

// ---- batchnorm.c ----
typedef struct {
    int C, HW;
    int gamma, beta, rmean, rvar;
    AptBNMode mode;
    float eps, momentum;
    bool batch_stats;  // the last forward normalised with batch statistics (train mode, local/sync)
    float *mean, *var; // statistics of the last train forward [C]
    double *sums;      // [2C] partial / reduced sums
    AptTensor y;       // in the form of its input (net->act_dtype)
    float *dy;
} AptBatchNorm;
void apt_bn_init(AptBatchNorm *l, AptNet *net, const char *name, int C, int HW);
void apt_bn_forward(AptBatchNorm *l, AptNet *net, int n, AptTensor x, bool train);
void apt_bn_backward(AptBatchNorm *l, AptNet *net, int n, AptTensor x, float *dx);

// conv → BN → optional ReLU (in place on the BN output); y/dy of the unit are the BN's.
typedef struct {
    AptConv conv;
    AptBatchNorm bn;
    bool relu;
} AptConvBN;
void apt_convbn_init(AptConvBN *u, AptNet *net, const char *conv_name, const char *bn_name, int C, int H,
                     int W, int K, int k, int stride, int pad, bool relu);
void apt_convbn_forward(AptConvBN *u, AptNet *net, int n, AptTensor x, bool train);
void apt_convbn_backward(AptConvBN *u, AptNet *net, int n, AptTensor x, float *dx); // uses u->bn.dy

// ---- linear.c ----
typedef struct {
    int in, out;
    int w, b;
    float *y, *dy;
} AptLinear;
// init: APT_INIT_UNIFORM_FAN_IN (torch default) or APT_INIT_NORMAL with std (bias zero).
void apt_linear_init(AptLinear *l, AptNet *net, const char *name, int in, int out, AptInitKind init,
                     double std);
void apt_linear_forward(AptLinear *l, AptNet *net, int n, const float *x);
void apt_linear_backward(AptLinear *l, AptNet *net, int n, const float *x, float *dx);

// ---- pool.c ----
typedef struct {
    AptPoolDesc d;
    AptTensor y; // in the form of its input (net->act_dtype)
    float *dy;
    int *idx;
} AptMaxPool;
void apt_maxpool_init(AptMaxPool *l, AptNet *net, int C, int H, int W, int k, int stride, int pad);
void apt_maxpool_forward(AptMaxPool *l, AptNet *net, int n, AptTensor x);
void apt_maxpool_backward(AptMaxPool *l, AptNet *net, int n, float *dx);

// ---- head.c: [global average pool] → linear (`fc`, to D) → L2 normalise, all fp32 ----
typedef struct {
    int C, HW, D;
    bool pool; // the input is pooled into `pooled`: HW > 1, or a bf16 input (widened) even when HW == 1
    AptLinear fc;
    float *pooled, *dpooled; // [b, C] (unused when HW == 1 and the input is fp32: the input itself)
    float *e, *de;           // [b, D] normalised embeddings and their gradient
} AptHead;
void apt_head_init(AptHead *h, AptNet *net, int C, int HW, int D, double init_std, AptDType x_dtype);
void apt_head_forward(AptHead *h, AptNet *net, int n, AptTensor x);
void apt_head_backward(AptHead *h, AptNet *net, int n, AptTensor x, float *dx); // reads h->de
