// conv2d.c — convolution layer (torchvision Conv2d: weight [K, C, k, k], optional bias) and the
// conv → BN → ReLU unit that small CNNs and ResNets are made of.
//
// Precision bf16 (net->act_dtype APT_BF16) is backend.h's bf16 chain: a conv without bias reads a bf16
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
    char pn[96];
    snprintf(pn, sizeof pn, "%s.weight", name);
    l->w = apt_net_param(net, pn, 4, (int[]){K, C, k, k}, false, APT_INIT_KAIMING_OUT, (double)K * k * k);
    l->b = -1;
    if (bias) {
        snprintf(pn, sizeof pn, "%s.bias", name);
        l->b = apt_net_param(net, pn, 1, (int[]){K}, false, APT_INIT_UNIFORM_FAN_IN, (double)C * k * k);
    }
    // A conv with bias (the small CNN's last, ViT's patch embedding) stays fp32.
    const AptDType dt = bias ? APT_F32 : net->act_dtype;
    l->d.dtype = dt;
    l->d.layout = dt == APT_F32 ? APT_NCHW : net->act_layout;
    be->conv2d_prepare(be, &l->d);
    l->widen_x = false;
    size_t out = (size_t)net->b_max * K * l->d.P * l->d.Q;
    apt_net_act(net, &l->y, out, dt);
    apt_net_dy(net, &l->dy, out);
    l->wq = apt_tensor(NULL, dt, APT_NCHW);
    l->dyq = apt_tensor(NULL, dt, l->d.layout);
    if (dt != APT_F32) { // the weights and dy in the conv's dtype (fp32 convs read the masters and dy)
        apt_acts_request(&net->acts, &l->wq.p, (size_t)K * C * k * k * apt_dtype_size(dt));
        apt_acts_request_shared(&net->acts, &l->dyq.p, out * apt_dtype_size(dt), APT_ACTS_KEY_BF16_DY);
    }
}

void apt_conv_input_form(AptConv *l, AptNet *net, AptTensor x) {
    l->widen_x = x.dtype != l->d.dtype || x.layout != l->d.layout;
    if (!l->widen_x) return;
    APT_CHECK(l->d.dtype == APT_F32, "conv: a %s conv cannot read a %s input", apt_dtype_name(l->d.dtype),
              apt_dtype_name(x.dtype));
    // [x widened to NCHW | dx in NCHW]: both live only inside one forward or backward call
    apt_net_need_scratch(net, 2 * (size_t)net->b_max * l->d.C * l->d.H * l->d.W);
}

// The input in the conv's form: itself, or (widen_x) its fp32 NCHW copy in the scratch.
static AptTensor conv_input(AptConv *l, AptNet *net, int n, AptTensor x) {
    if (!l->widen_x) return x;
    net->be->cast(net->be, n, l->d.C, (size_t)l->d.H * l->d.W, x, apt_f32(net->scratch));
    return apt_f32(net->scratch);
}

// The weights in the conv's dtype: the fp32 masters, or their rounding made now into wq.
static AptTensor conv_weights(AptConv *l, AptNet *net) {
    const AptConvDesc *d = &l->d;
    AptTensor w = apt_f32(apt_net_w(net, l->w));
    if (d->dtype == APT_F32) return w;
    net->be->cast(net->be, d->K, d->C, (size_t)d->R * d->S, w, l->wq);
    return l->wq;
}

void apt_conv_forward(AptConv *l, AptNet *net, int n, AptTensor x) {
    AptBackend *be = net->be;
    be->conv2d_forward(be, &l->d, n, conv_input(l, net, n, x), conv_weights(l, net), apt_net_w(net, l->b),
                       l->y);
}

void apt_conv_backward(AptConv *l, AptNet *net, int n, AptTensor x, float *dx) {
    AptBackend *be = net->be;
    const AptConvDesc *d = &l->d;
    float *dw = apt_net_g(net, l->w), *db = apt_net_g(net, l->b);
    // dy in the conv's dtype; the weights are still this forward's (wq: the optimizer runs after backward)
    const bool quantised = d->dtype != APT_F32;
    AptTensor dy = apt_grad_of(l->y, l->dy), w = quantised ? l->wq : apt_f32(apt_net_w(net, l->w));
    if (quantised) {
        be->cast(be, n, d->K, (size_t)d->P * d->Q, dy, l->dyq);
        dy = l->dyq;
    }
    if (dw || db) be->conv2d_backward_weights(be, d, n, conv_input(l, net, n, x), dy, dw, db);
    if (!dx) return;
    if (!l->widen_x) {
        be->conv2d_backward_data(be, d, n, dy, w, apt_grad_of(x, dx));
        return;
    }
    // The input gradient goes back into the bf16 chain: computed in NCHW, then in the input's layout.
    float *dx_nchw = net->scratch + (size_t)net->b_max * d->C * d->H * d->W;
    be->conv2d_backward_data(be, d, n, dy, w, apt_f32(dx_nchw));
    be->cast(be, n, d->C, (size_t)d->H * d->W, apt_f32(dx_nchw), apt_grad_of(x, dx));
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

void apt_convbn_forward(AptConvBN *u, AptNet *net, int n, AptTensor x, bool train) {
    apt_conv_forward(&u->conv, net, n, x);
    apt_bn_forward(&u->bn, net, n, u->conv.y, train);
    if (u->relu) apt_act_relu(net, (size_t)n * u->bn.C * u->bn.HW, u->bn.y);
}

void apt_convbn_backward(AptConvBN *u, AptNet *net, int n, AptTensor x, float *dx) {
    if (u->relu) apt_act_relu_backward(net, (size_t)n * u->bn.C * u->bn.HW, u->bn.y, u->bn.dy);
    apt_bn_backward(&u->bn, net, n, u->conv.y, u->conv.dy);
    apt_conv_backward(&u->conv, net, n, x, dx);
}
