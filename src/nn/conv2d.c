// conv2d.c — convolution layer (torchvision Conv2d: weight [K, C, k, k], optional bias) and the
// conv → BN → ReLU unit that small CNNs and ResNets are made of.
//
// Precision bf16 (net->bf16) is the bf16 activation chain of backend.h: a conv without bias reads a bf16
// input and writes a bf16 output (both kept for backward, in the backend's activation layout), with the
// weights rounded to bf16 at each forward from the fp32 masters and fp32 accumulation; BatchNorm reads
// that bf16 output, keeps its statistics and arithmetic in fp32 and writes bf16; ReLU works in place on
// bf16. So every stored activation is bf16 and there is no fp32 copy of any (the conversions are the
// model input's, model.c, and the head's pooling, head.c). Gradients stay fp32 (in the activation layout).
#include "layers.h"

#include "core/check.h"

#include <stdio.h>

void apt_conv_init(AptConv *l, AptNet *net, const char *name, int C, int H, int W, int K, int k, int stride,
                   int pad, bool bias) {
    apt_conv_desc_init(&l->d, net->b_max, C, H, W, K, k, k, stride, pad);
    AptBackend *be = net->be;
    be->conv2d_prepare(be, &l->d);
    char pn[96];
    snprintf(pn, sizeof pn, "%s.weight", name);
    l->w = apt_net_param(net, pn, 4, (int[]){K, C, k, k}, false, APT_INIT_KAIMING_OUT, (double)K * k * k);
    l->b = -1;
    if (bias) {
        snprintf(pn, sizeof pn, "%s.bias", name);
        l->b = apt_net_param(net, pn, 1, (int[]){K}, false, APT_INIT_UNIFORM_FAN_IN, (double)C * k * k);
    }
    l->bf16 = net->bf16 && !bias; // a conv with bias (the small CNN's last, ViT's patch embedding) stays fp32
    l->widen_x = false;
    size_t out = (size_t)net->b_max * K * l->d.P * l->d.Q;
    apt_net_act(net, &l->y, out, l->bf16);
    apt_net_dy(net, &l->dy, out);
    l->w16 = l->dy16 = NULL;
    if (l->bf16) {
        be->conv2d_prepare_bf16(be, &l->d);
        apt_acts_request(&net->acts, &l->w16, (size_t)K * C * k * k * sizeof(uint16_t));
        apt_acts_request_shared(&net->acts, &l->dy16, out * sizeof(uint16_t), APT_ACTS_KEY_BF16_DY);
    }
}

void apt_conv_take_bf16_input(AptConv *l, AptNet *net) {
    APT_CHECK(!l->bf16, "apt_conv_take_bf16_input: the conv is in the bf16 chain already");
    l->widen_x = true;
    // [x widened to NCHW | dx in NCHW]: both live only inside one forward or backward call
    apt_net_need_scratch(net, 2 * (size_t)net->b_max * l->d.C * l->d.H * l->d.W);
}

// The input as fp32 NCHW for an fp32 conv: itself, or its widened copy in the scratch.
static const float *x_f32(AptConv *l, AptNet *net, int n, AptAct x) {
    if (!l->widen_x) {
        APT_CHECK(x.f, "conv: fp32 layer given a bf16 input (apt_conv_take_bf16_input)");
        return x.f;
    }
    APT_CHECK(x.h, "conv: apt_conv_take_bf16_input given an fp32 input");
    net->be->act_to_f32(net->be, n, l->d.C, l->d.H * l->d.W, x.h, net->scratch);
    return net->scratch;
}

void apt_conv_forward(AptConv *l, AptNet *net, int n, AptAct x) {
    AptBackend *be = net->be;
    const AptConvDesc *d = &l->d;
    if (l->bf16) {
        APT_CHECK(x.h, "conv: the bf16 chain needs a bf16 input");
        be->cast_f32_bf16(be, (size_t)d->K * d->C * d->R * d->S, apt_net_w(net, l->w), l->w16);
        be->conv2d_forward_bf16(be, d, n, x.h, l->w16, l->y.h);
        return;
    }
    be->conv2d_forward(be, d, n, x_f32(l, net, n, x), apt_net_w(net, l->w), apt_net_w(net, l->b), l->y.f);
}

void apt_conv_backward(AptConv *l, AptNet *net, int n, AptAct x, float *dx) {
    AptBackend *be = net->be;
    const AptConvDesc *d = &l->d;
    float *dw = apt_net_g(net, l->w), *db = apt_net_g(net, l->b);
    if (l->bf16) { // w16 still holds this forward's weights (the optimizer runs after backward)
        be->cast_f32_bf16(be, (size_t)n * d->K * d->P * d->Q, l->dy, l->dy16);
        if (dw) be->conv2d_backward_weights_bf16(be, d, n, x.h, l->dy16, dw);
        if (dx) be->conv2d_backward_data_bf16(be, d, n, l->dy16, l->w16, dx);
        return;
    }
    const float *xf = x_f32(l, net, n, x);
    if (dw || db) be->conv2d_backward_weights(be, d, n, xf, l->dy, dw, db);
    if (!dx) return;
    if (!l->widen_x) {
        be->conv2d_backward_data(be, d, n, l->dy, apt_net_w(net, l->w), dx);
        return;
    }
    // The input gradient goes back into the bf16 chain: computed in NCHW, then in the activation layout.
    float *dx_nchw = net->scratch + (size_t)net->b_max * d->C * d->H * d->W;
    be->conv2d_backward_data(be, d, n, l->dy, apt_net_w(net, l->w), dx_nchw);
    be->act_from_nchw_f32(be, n, d->C, d->H * d->W, dx_nchw, dx);
}

void apt_conv_release(AptConv *l, AptNet *net) {
    net->be->conv2d_release(net->be, &l->d);
}

void apt_convbn_init(AptConvBN *u, AptNet *net, const char *conv_name, const char *bn_name, int C, int H,
                     int W, int K, int k, int stride, int pad, bool relu) {
    apt_conv_init(&u->conv, net, conv_name, C, H, W, K, k, stride, pad, false);
    apt_bn_init(&u->bn, net, bn_name, K, u->conv.d.P * u->conv.d.Q);
    u->relu = relu;
}

void apt_convbn_forward(AptConvBN *u, AptNet *net, int n, AptAct x, bool train) {
    apt_conv_forward(&u->conv, net, n, x);
    apt_bn_forward(&u->bn, net, n, u->conv.y, train);
    if (u->relu) apt_act_relu(net, (size_t)n * u->bn.C * u->bn.HW, u->bn.y);
}

void apt_convbn_backward(AptConvBN *u, AptNet *net, int n, AptAct x, float *dx) {
    if (u->relu) apt_act_relu_backward(net, (size_t)n * u->bn.C * u->bn.HW, u->bn.y, u->bn.dy);
    apt_bn_backward(&u->bn, net, n, u->conv.y, u->conv.dy);
    apt_conv_backward(&u->conv, net, n, x, dx);
}
