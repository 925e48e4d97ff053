// head.c — the embedding head of DESIGN §1: global average pool → linear `fc` to D → L2 normalise.
// The linear layer is named `fc` like torchvision's classifier, so a torchvision model whose fc was
// replaced by Linear(C, D) maps 1:1; its init is the official codes' normal(0, init_std), bias 0.
// The head is fp32 throughout: a bf16 input (the bf16 activation chain) is widened by the pooling.
#include "layers.h"

void apt_head_init(AptHead *h, AptNet *net, int C, int HW, int D, double init_std, AptDType x_dtype) {
    h->C = C;
    h->HW = HW;
    h->D = D;
    h->pool = HW > 1 || x_dtype != APT_F32; // the linear layer reads fp32 [n, C]
    apt_linear_init(&h->fc, net, "fc", C, D, APT_INIT_NORMAL, init_std);
    if (h->pool) {
        apt_acts_floats(&net->acts, &h->pooled, (size_t)net->b_max * C);
        apt_acts_floats(&net->acts, &h->dpooled, (size_t)net->b_max * C);
    }
    apt_acts_floats(&net->acts, &h->e, (size_t)net->b_max * D);
    apt_acts_floats(&net->acts, &h->de, (size_t)net->b_max * D);
}

void apt_head_forward(AptHead *h, AptNet *net, int n, AptTensor x) {
    const float *in = x.p; // without pooling: fp32 [n, C] (apt_head_init)
    if (h->pool) {
        net->be->gap_forward(net->be, n, h->C, h->HW, x, h->pooled);
        in = h->pooled;
    }
    apt_linear_forward(&h->fc, net, n, in);
    net->be->l2norm_forward(net->be, n, h->D, h->fc.y, h->e);
}

void apt_head_backward(AptHead *h, AptNet *net, int n, AptTensor x, float *dx) {
    net->be->l2norm_backward(net->be, n, h->D, h->fc.y, h->e, h->de, h->fc.dy);
    if (!h->pool) {
        apt_linear_backward(&h->fc, net, n, x.p, dx);
        return;
    }
    apt_linear_backward(&h->fc, net, n, h->pooled, dx ? h->dpooled : NULL);
    if (dx) net->be->gap_backward(net->be, n, h->C, h->HW, h->dpooled, apt_grad_of(x, dx));
}
