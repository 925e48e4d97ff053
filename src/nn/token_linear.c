// token_linear.c — a Linear layer over token rows [R, in] -> [R, out] with timm's init (weight
// normal(0, 0.02), bias 0); the caller owns the gradient buffers (vit_layers.h).
#include "vit_layers.h"

#include <stdio.h>

void apt_tlinear_init(AptTLinear *l, AptNet *net, const char *name, int in, int out, size_t rows_max,
                      bool own_output) {
    char pn[96];
    l->in = in;
    l->out = out;
    snprintf(pn, sizeof pn, "%s.weight", name);
    l->w = apt_net_param(net, pn, 2, (int[]){out, in}, false, APT_INIT_NORMAL, APT_VIT_INIT_STD);
    snprintf(pn, sizeof pn, "%s.bias", name);
    l->b = apt_net_param(net, pn, 1, &out, false, APT_INIT_ZERO, 0);
    l->y = NULL;
    if (own_output) apt_acts_floats(&net->acts, &l->y, rows_max * out);
}

void apt_tlinear_forward_to(AptTLinear *l, AptNet *net, int rows, const float *x, float *y) {
    net->be->linear_forward(net->be, rows, l->in, l->out, x, apt_net_w(net, l->w), apt_net_w(net, l->b), y);
}

void apt_tlinear_backward(AptTLinear *l, AptNet *net, int rows, const float *x, const float *dy, float *dx) {
    net->be->linear_backward(net->be, rows, l->in, l->out, x, apt_net_w(net, l->w), dy, dx, apt_net_g(net, l->w),
                             apt_net_g(net, l->b));
}
