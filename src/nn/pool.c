// pool.c — max pooling layer (stem of ResNets, stages of the small CNN). Global average pooling is part
// of the embedding head (head.c).
#include "layers.h"

void apt_maxpool_init(AptMaxPool *l, AptNet *net, int C, int H, int W, int k, int stride, int pad) {
    apt_pool_desc_init(&l->d, net->b_max, C, H, W, k, stride, pad);
    size_t out = (size_t)net->b_max * C * l->d.P * l->d.Q;
    apt_acts_floats(&net->acts, &l->y, out);
    apt_acts_floats(&net->acts, &l->dy, out);
    apt_acts_request(&net->acts, &l->idx, out * sizeof(int));
}

void apt_maxpool_forward(AptMaxPool *l, AptNet *net, int n, const float *x) {
    net->be->maxpool_forward(net->be, &l->d, n, x, l->y, l->idx);
}

void apt_maxpool_backward(AptMaxPool *l, AptNet *net, int n, float *dx) {
    if (dx) net->be->maxpool_backward(net->be, &l->d, n, l->dy, l->idx, dx);
}
