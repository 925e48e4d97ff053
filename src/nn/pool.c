// pool.c — max pooling layer (stem of ResNets, stages of the small CNN). Global average pooling is part
// of the embedding head (head.c).
#include "layers.h"

#include "core/check.h"

void apt_maxpool_init(AptMaxPool *l, AptNet *net, int C, int H, int W, int k, int stride, int pad) {
    apt_pool_desc_init(&l->d, net->b_max, C, H, W, k, stride, pad);
    size_t out = (size_t)net->b_max * C * l->d.P * l->d.Q;
    apt_net_act(net, &l->y, out, net->act_dtype);
    apt_net_dy(net, &l->dy, out);
    apt_acts_request_saved(&net->acts, &l->idx, out * sizeof(int)); // the argmax, kept for backward
}

void apt_maxpool_forward(AptMaxPool *l, AptNet *net, int n, AptTensor x) {
    net->be->maxpool_forward(net->be, &l->d, n, x, l->y, l->idx);
}

void apt_maxpool_backward(AptMaxPool *l, AptNet *net, int n, float *dx) {
    if (!dx) return;
    net->be->maxpool_backward(net->be, &l->d, n, apt_grad_of(l->y, l->dy), l->idx, apt_grad_of(l->y, dx));
}
