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
}

void apt_conv_forward(AptConv *l, AptNet *net, int n, const float *x) {
    net->be->conv2d_forward(net->be, &l->d, n, x, apt_net_w(net, l->w), apt_net_w(net, l->b), l->y);
}

void apt_conv_backward(AptConv *l, AptNet *net, int n, const float *x, float *dx) {
    float *dw = apt_net_g(net, l->w), *db = apt_net_g(net, l->b);
    if (dw || db) net->be->conv2d_backward_weights(net->be, &l->d, n, x, l->dy, dw, db);
    if (dx) net->be->conv2d_backward_data(net->be, &l->d, n, l->dy, apt_net_w(net, l->w), dx);
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
