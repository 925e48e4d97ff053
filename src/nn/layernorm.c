// layernorm.c — LayerNorm over the last dimension (torch.nn.LayerNorm: weight 1, bias 0 at init).
#include "vit_layers.h"

#include <stdio.h>

void apt_layernorm_init(AptLayerNorm *l, AptNet *net, const char *name, int D, size_t rows_max, float eps) {
    char pn[96];
    l->D = D;
    l->eps = eps;
    snprintf(pn, sizeof pn, "%s.weight", name);
    l->gamma = apt_net_param(net, pn, 1, &D, false, APT_INIT_ONE, 0);
    snprintf(pn, sizeof pn, "%s.bias", name);
    l->beta = apt_net_param(net, pn, 1, &D, false, APT_INIT_ZERO, 0);
    apt_vit_act(net, &l->y, rows_max * D);
    apt_acts_request_saved(&net->acts, &l->mean, rows_max * sizeof(float));
    apt_acts_request_saved(&net->acts, &l->rstd, rows_max * sizeof(float));
}

void apt_layernorm_forward(AptLayerNorm *l, AptNet *net, int rows, AptTensor x) {
    net->be->layernorm_forward(net->be, rows, l->D, x, apt_net_w(net, l->gamma), apt_net_w(net, l->beta), l->eps,
                               l->y, l->mean, l->rstd);
}

void apt_layernorm_backward(AptLayerNorm *l, AptNet *net, int rows, AptTensor x, const float *dy, float *dx) {
    net->be->layernorm_backward(net->be, rows, l->D, x, dy, apt_net_w(net, l->gamma), l->mean, l->rstd, dx,
                                apt_net_g(net, l->gamma), apt_net_g(net, l->beta));
}
