// batchnorm.c — BatchNorm2d with the four modes of issue 4 / DESIGN §1:
//   frozen         eval-mode statistics (running_mean/var fixed), gamma/beta trainable: a per-channel affine
//                  map, exact across world sizes (the official Smooth-AP/PNP setting);
//   frozen_affine  the same with gamma/beta fixed too (not trainable: no gradient, no update);
//   local          train-mode batch statistics over this process's samples (torch BatchNorm2d.train());
//   sync           batch statistics over the global batch: float64 per-channel sums all-reduced through
//                  dist/comm.h in forward and backward (torch SyncBatchNorm), exact across world sizes.
// Evaluation (train = false) always uses the running statistics. eps 1e-5, momentum 0.1 (torch defaults).
// Input and output are in the form of the net's activations (net->act_dtype; bf16: statistics,
// normalisation and gradients in fp32/float64 on the widened input, the output rounded once).
#include "layers.h"

#include "core/check.h"

#include <stdio.h>
#include <string.h>

void apt_bn_init(AptBatchNorm *l, AptNet *net, const char *name, int C, int HW) {
    l->C = C;
    l->HW = HW;
    l->mode = net->bn_mode;
    l->eps = 1e-5f;
    l->momentum = 0.1f;
    char pn[96];
    snprintf(pn, sizeof pn, "%s.weight", name);
    l->gamma = apt_net_param(net, pn, 1, &C, false, APT_INIT_ONE, 0);
    snprintf(pn, sizeof pn, "%s.bias", name);
    l->beta = apt_net_param(net, pn, 1, &C, false, APT_INIT_ZERO, 0);
    snprintf(pn, sizeof pn, "%s.running_mean", name);
    l->rmean = apt_net_param(net, pn, 1, &C, true, APT_INIT_ZERO, 0);
    snprintf(pn, sizeof pn, "%s.running_var", name);
    l->rvar = apt_net_param(net, pn, 1, &C, true, APT_INIT_ONE, 0);
    if (l->mode == APT_BN_FROZEN_AFFINE) {
        net->ps->p[l->gamma].trainable = net->ps->p[l->beta].trainable = false;
        net->ps->p[l->gamma].decay = net->ps->p[l->beta].decay = false;
    }
    size_t out = (size_t)net->b_max * C * HW;
    apt_net_act(net, &l->y, out, net->act_dtype);
    apt_net_dy(net, &l->dy, out);
    apt_acts_floats(&net->acts, &l->mean, C);
    apt_acts_floats(&net->acts, &l->var, C);
    apt_acts_request(&net->acts, &l->sums, 2 * (size_t)C * sizeof(double));
}

static bool uses_batch_stats(const AptBatchNorm *l, bool train) {
    return train && (l->mode == APT_BN_LOCAL || l->mode == APT_BN_SYNC);
}

// y = bn(x) with the given statistics.
static void normalise(AptBatchNorm *l, AptNet *net, int n, AptTensor x, const float *mean, const float *var) {
    AptBackend *be = net->be;
    const float *gamma = apt_net_w(net, l->gamma), *beta = apt_net_w(net, l->beta);
    be->bn_forward(be, n, l->C, l->HW, x, mean, var, l->eps, gamma, beta, l->y);
}

void apt_bn_forward(AptBatchNorm *l, AptNet *net, int n, AptTensor x, bool train) {
    AptBackend *be = net->be;
    float *rm = apt_net_w(net, l->rmean), *rv = apt_net_w(net, l->rvar);
    l->batch_stats = uses_batch_stats(l, train);
    if (!l->batch_stats) {
        normalise(l, net, n, x, rm, rv);
        return;
    }
    double count = (double)n * l->HW;
    be->bn_stats(be, n, l->C, l->HW, x, l->sums);
    if (l->mode == APT_BN_SYNC && net->comm && (net->comm->world > 1 || !strcmp(net->comm->name, "nccl"))) {
        net->comm->allreduce(net->comm, l->sums, 2 * (size_t)l->C, APT_F64, APT_SUM);
        count *= net->bn_count_scale;
    }
    be->bn_finalize(be, l->C, l->sums, count, l->momentum, l->mean, l->var, rm, rv);
    normalise(l, net, n, x, l->mean, l->var);
}

// The affine backward (dx = dy * gamma / std; dgamma, dbeta).
static void backward_affine(AptBatchNorm *l, AptNet *net, int n, AptTensor x, const float *mean,
                            const float *var, float *dx, float *dgamma, float *dbeta) {
    AptBackend *be = net->be;
    const float *gamma = apt_net_w(net, l->gamma);
    be->bn_backward_affine(be, n, l->C, l->HW, x, apt_grad_of(l->y, l->dy), mean, var, l->eps, gamma,
                           apt_grad_of(x, dx), dgamma, dbeta);
}

void apt_bn_backward(AptBatchNorm *l, AptNet *net, int n, AptTensor x, float *dx) {
    AptBackend *be = net->be;
    const float *gamma = apt_net_w(net, l->gamma);
    float *dgamma = apt_net_g(net, l->gamma), *dbeta = apt_net_g(net, l->beta);
    if (!l->batch_stats) { // statistics were constants: an affine map
        backward_affine(l, net, n, x, apt_net_w(net, l->rmean), apt_net_w(net, l->rvar), dx, dgamma, dbeta);
        return;
    }
    // Parameter gradients are this process's share (the gradient all-reduce sums them); the input
    // gradient needs the sums over the whole batch the statistics came from.
    if (dgamma || dbeta) backward_affine(l, net, n, x, l->mean, l->var, NULL, dgamma, dbeta);
    if (!dx) return;
    double count = (double)n * l->HW;
    be->bn_backward_stats(be, n, l->C, l->HW, x, apt_grad_of(l->y, l->dy), l->mean, l->var, l->eps, l->sums);
    if (l->mode == APT_BN_SYNC && net->comm && (net->comm->world > 1 || !strcmp(net->comm->name, "nccl"))) {
        net->comm->allreduce(net->comm, l->sums, 2 * (size_t)l->C, APT_F64, APT_SUM);
        count *= net->bn_count_scale;
    }
    be->bn_backward_data(be, n, l->C, l->HW, x, apt_grad_of(l->y, l->dy), l->mean, l->var, l->eps, gamma,
                         l->sums, count, apt_grad_of(x, dx));
}
