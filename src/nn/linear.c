// linear.c — fully connected layer (torch Linear: weight [out, in], bias [out]).
#include "layers.h"

#include <stdio.h>

void apt_linear_init(AptLinear *l, AptNet *net, const char *name, int in, int out, AptInitKind init,
                     double std) {
    l->in = in;
    l->out = out;
    char pn[96];
    snprintf(pn, sizeof pn, "%s.weight", name);
    bool normal = init == APT_INIT_NORMAL;
    l->w = apt_net_param(net, pn, 2, (int[]){out, in}, false, init, normal ? std : (double)in);
    snprintf(pn, sizeof pn, "%s.bias", name);
    l->b =
        apt_net_param(net, pn, 1, &out, false, normal ? APT_INIT_ZERO : APT_INIT_UNIFORM_FAN_IN, (double)in);
    apt_acts_floats(&net->acts, &l->y, (size_t)net->b_max * out);
    apt_acts_floats(&net->acts, &l->dy, (size_t)net->b_max * out);
}

void apt_linear_forward(AptLinear *l, AptNet *net, int n, const float *x) {
    net->be->linear_forward(net->be, n, l->in, l->out, x, apt_net_w(net, l->w), apt_net_w(net, l->b), l->y);
}

void apt_linear_backward(AptLinear *l, AptNet *net, int n, const float *x, float *dx) {
    net->be->linear_backward(net->be, n, l->in, l->out, x, apt_net_w(net, l->w), l->dy, dx,
                             apt_net_g(net, l->w), apt_net_g(net, l->b));
}
