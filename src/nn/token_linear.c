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
    l->y = apt_tensor(NULL, net->act_dtype, APT_NCHW);
    if (own_output) apt_vit_act(net, &l->y, rows_max * out);
}

// y [rows, out] = x [rows, in] · wᵀ + b
void apt_tlinear_forward_to(AptTLinear *l, AptNet *net, int rows, AptTensor x, AptTensor y) {
    AptBackend *be = net->be;
    be->gemm_batched(be, false, true, rows, l->out, l->in, 1.0f, x, l->in, 0, apt_f32(apt_net_w(net, l->w)), l->in, 0,
                     0.0f, y, l->out, 0, 1, apt_net_w(net, l->b));
}

// dx = dy · w (overwritten); dw += dyᵀ · x; db += Σ_rows dy (linear_backward with only db: its fixed-order
// column sums).
void apt_tlinear_backward(AptTLinear *l, AptNet *net, int rows, AptTensor x, const float *dy, float *dx) {
    AptBackend *be = net->be;
    float *dw = apt_net_g(net, l->w), *db = apt_net_g(net, l->b);
    if (dx)
        be->gemm_batched(be, false, false, rows, l->in, l->out, 1.0f, apt_f32(dy), l->out, 0,
                         apt_f32(apt_net_w(net, l->w)), l->in, 0, 0.0f, apt_f32(dx), l->in, 0, 1, NULL);
    if (dw)
        be->gemm_batched(be, true, false, l->out, l->in, rows, 1.0f, apt_f32(dy), l->out, 0, x, l->in, 0, 1.0f,
                         apt_f32(dw), l->in, 0, 1, NULL);
    if (db) be->linear_backward(be, rows, l->in, l->out, NULL, NULL, dy, NULL, NULL, db);
}
