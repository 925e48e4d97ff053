// cpu_optim.c — SGD / Adam / AdamW elementwise updates on flat ranges (the formulas are documented in
// src/optim/optim.h, which drives them per tensor).
#include "cpu_ops.h"

#include <math.h>

void apt_cpu_sgd_update(AptBackend *be, float *w, const float *g, float *buf, size_t n, float lr, float wd,
                        float mu, bool nesterov) {
    (void)be;
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float b = mu * buf[i] + d;
        buf[i] = b;
        w[i] -= lr * (nesterov ? d + mu * b : b);
    }
}

void apt_cpu_adam_update(AptBackend *be, float *w, const float *g, float *m, float *v, size_t n, float lr,
                         float b1, float b2, float eps, float wd, bool decoupled, long t) {
    (void)be;
    // Scalars in float64 as torch does in Python, then rounded once to float32.
    double bc1 = 1.0 - pow((double)b1, (double)t);
    double bc2 = 1.0 - pow((double)b2, (double)t);
    float step_size = (float)((double)lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float wd_coupled = decoupled ? 0.0f : wd;
    float decay_mul = decoupled ? (float)(1.0 - (double)lr * (double)wd) : 1.0f;
    float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float wi = w[i] * decay_mul;
        float d = g[i] + wd_coupled * wi;
        float mi = b1 * m[i] + c1 * d;
        float vi = b2 * v[i] + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        // Same operation order as torch: denom = sqrt(v) / sqrt(bc2) + eps; w += -step_size * (m / denom).
        w[i] = wi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

// ---- one pass over the segment table (backend.h AptSegment): the per-tensor calls the optimizer and
// the gradient norm made before, in the same order on the same ranges, so every bit is as it was.

void apt_cpu_grad_sumsq(AptBackend *be, AptSegment *seg, int n_seg, const float *g, double *out) {
    double total = 0.0;
    for (int s = 0; s < n_seg; s++) {
        apt_cpu_sumsq(be, seg[s].numel, g + seg[s].offset, &seg[s].part[0], false);
        total = s == 0 ? seg[s].part[0] : total + seg[s].part[0]; // sumsq with accumulate, in table order
    }
    *out = total;
}

void apt_cpu_optim_update(AptBackend *be, const AptOptimPass *pass, float *w, float *g, float *m, float *v,
                          const double *scal) {
    const double sumsq = scal[APT_SCALAR_SUMSQ];
    if (scal[APT_SCALAR_FINITE] == 0.0 || !isfinite(sumsq)) return; // the numeric stop: nothing moves
    const float coef = apt_clip_coef_from_sumsq(sumsq, pass->max_norm);
    // Clip every segment first, then update: the order of the clip-then-step of torch (and of before).
    if (coef != 1.0f)
        for (int s = 0; s < pass->n_seg; s++)
            apt_cpu_scale(be, pass->seg[s].numel, coef, g + pass->seg[s].offset);
    for (int s = 0; s < pass->n_seg; s++) {
        const AptSegment *sg = &pass->seg[s];
        const size_t o = sg->offset;
        const float lr = (float)((pass->lr * sg->lr_mul) * sg->lr_scale);
        if (pass->kind == APT_UPDATE_SGD)
            apt_cpu_sgd_update(be, w + o, g + o, m + o, sg->numel, lr, sg->wd, pass->mu, pass->nesterov);
        else
            apt_cpu_adam_update(be, w + o, g + o, m + o, v + o, sg->numel, lr, pass->b1, pass->b2, pass->eps, sg->wd,
                                pass->kind == APT_UPDATE_ADAMW, pass->t);
    }
}
