// conv2d.c — convolution layer (torchvision Conv2d: weight [K, C, k, k], optional bias) and the
// conv → BN → ReLU unit that small CNNs and ResNets are made of.
#include "layers.h"

#include <stdio.h>

void apt_conv_init(AptConv *l, AptNet *net, const char *name, int C, int H, int W, int K, int k, int stride,
                   int pad, bool bias) {
    apt_conv_desc_init(&l->d, net->b_max, C, H, W, K, k, k, stride, pad);
    net->be->conv2d_prepare(net->be, &l->d);
    char pn[96];
    snprintf(pn, sizeof pn, "%s.weight", name);
    l->w = apt_net_param(net, pn, 4, (int[]){K, C, k, k}, false, APT_INIT_KAIMING_OUT, (double)K * k * k);
    l->b = -1;
    if (bias) {
        snprintf(pn, sizeof pn, "%s.bias", name);
        l->b = apt_net_param(net, pn, 1, (int[]){K}, false, APT_INIT_UNIFORM_FAN_IN, (double)C * k * k);
    }
    size_t out = (size_t)net->b_max * K * l->d.P * l->d.Q;
    apt_acts_floats(&net->acts, &l->y, out);
    apt_net_dy(net, &l->dy, out);
    l->x16 = l->w16 = l->dy16 = NULL;
    if (net->bf16 && !bias) { // (a conv with bias, the small CNN's last, stays fp32)
        apt_acts_request(&net->acts, &l->x16, (size_t)net->b_max * C * H * W * sizeof(uint16_t));
        apt_acts_request(&net->acts, &l->w16, (size_t)K * C * k * k * sizeof(uint16_t));
        apt_acts_request_shared(&net->acts, &l->dy16, out * sizeof(uint16_t), APT_ACTS_KEY_BF16_DY);
    }
}

// precision bf16 (l->x16 set): the input and weights are rounded to bf16 (round to nearest even), the
// convolution accumulates in fp32 and writes fp32 y; the weights stay fp32 masters in the store. The
// bf16 input is kept for the weight gradient; dy is rounded to bf16 for both backward convolutions.
void apt_conv_forward(AptConv *l, AptNet *net, int n, const float *x) {
    AptBackend *be = net->be;
    if (l->x16) {
        const AptConvDesc *d = &l->d;
        be->cast_f32_bf16(be, (size_t)n * d->C * d->H * d->W, x, l->x16);
        be->cast_f32_bf16(be, (size_t)d->K * d->C * d->R * d->S, apt_net_w(net, l->w), l->w16);
        be->conv2d_forward_bf16(be, d, n, l->x16, l->w16, l->y);
        return;
    }
    be->conv2d_forward(be, &l->d, n, x, apt_net_w(net, l->w), apt_net_w(net, l->b), l->y);
}

void apt_conv_backward(AptConv *l, AptNet *net, int n, const float *x, float *dx) {
    AptBackend *be = net->be;
    float *dw = apt_net_g(net, l->w), *db = apt_net_g(net, l->b);
    if (l->x16) { // w16 still holds this forward's weights (the optimizer runs after backward)
        be->cast_f32_bf16(be, (size_t)n * l->d.K * l->d.P * l->d.Q, l->dy, l->dy16);
        if (dw) be->conv2d_backward_weights_bf16(be, &l->d, n, l->x16, l->dy16, dw);
        if (dx) be->conv2d_backward_data_bf16(be, &l->d, n, l->dy16, l->w16, dx);
        return;
    }
    if (dw || db) be->conv2d_backward_weights(be, &l->d, n, x, l->dy, dw, db);
    if (dx) be->conv2d_backward_data(be, &l->d, n, l->dy, apt_net_w(net, l->w), dx);
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

void apt_convbn_forward(AptConvBN *u, AptNet *net, int n, const float *x, bool train) {
    apt_conv_forward(&u->conv, net, n, x);
    apt_bn_forward(&u->bn, net, n, u->conv.y, train);
    if (u->relu) net->be->relu_forward(net->be, (size_t)n * u->bn.C * u->bn.HW, u->bn.y, u->bn.y);
}

void apt_convbn_backward(AptConvBN *u, AptNet *net, int n, const float *x, float *dx) {
    if (u->relu) net->be->relu_backward(net->be, (size_t)n * u->bn.C * u->bn.HW, u->bn.y, u->bn.dy, u->bn.dy);
    apt_bn_backward(&u->bn, net, n, u->conv.y, u->conv.dy);
    apt_conv_backward(&u->conv, net, n, x, dx);
}
