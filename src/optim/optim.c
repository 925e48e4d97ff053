// optim.c — SGD / Adam / AdamW over the flat parameter store, with the parameter groups encoded in the
// AptParam flags (head learning-rate multiplier, no-decay set, frozen tensors).
#include "optim.h"

#include "core/check.h"

#include <math.h>
#include <string.h>

const char *apt_optim_name(AptOptimName n) {
    switch (n) {
    case APT_OPT_ADAM: return "adam";
    case APT_OPT_ADAMW: return "adamw";
    case APT_OPT_SGD: return "sgd";
    }
    return "?";
}

static float *alloc_state(size_t n) {
    float *p = apt_aligned_alloc((n ? n : 1) * sizeof(float));
    memset(p, 0, n * sizeof(float));
    return p;
}

void apt_optim_init(AptOptim *o, const AptOptimConfig *cfg, AptParamStore *ps) {
    APT_CHECK(ps->finalized, "optimizer created before the parameter store is finalized");
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->ps = ps;
    bool adam = cfg->name == APT_OPT_ADAM || cfg->name == APT_OPT_ADAMW;
    // SGD without momentum keeps no state, but m is still allocated so checkpoints have one layout.
    if (!ps->m) ps->m = alloc_state(ps->numel);
    if (adam && !ps->v) ps->v = alloc_state(ps->numel);
    apt_param_groups_apply(ps, cfg); // layer-wise lr scale and the no-decay set (param_groups.c)
}

double apt_optim_param_lr(const AptOptim *o, const AptParam *p, double lr) {
    return (p->is_head ? lr * o->cfg.fc_lr_mul : lr) * p->lr_scale;
}

void apt_optim_sgd_update(float *w, const float *g, float *buf, size_t n, float lr, float wd, float mu,
                          bool nesterov) {
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float b = mu * buf[i] + d;
        buf[i] = b;
        w[i] -= lr * (nesterov ? d + mu * b : b);
    }
}

void apt_optim_adam_update(float *w, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
                           float eps, float wd, bool decoupled, long t) {
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

void apt_optim_step(AptOptim *o, double lr) {
    AptParamStore *ps = o->ps;
    const AptOptimConfig *c = &o->cfg;
    o->t++;
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        float *w = ps->w + p->offset;
        const float *g = ps->g + p->offset;
        float plr = (float)apt_optim_param_lr(o, p, lr);
        float wd = p->decay ? (float)c->weight_decay : 0.0f;
        switch (c->name) {
        case APT_OPT_SGD:
            apt_optim_sgd_update(w, g, ps->m + p->offset, p->numel, plr, wd, (float)c->momentum, c->nesterov);
            break;
        case APT_OPT_ADAM:
        case APT_OPT_ADAMW:
            apt_optim_adam_update(w, g, ps->m + p->offset, ps->v + p->offset, p->numel, plr, (float)c->beta1,
                                  (float)c->beta2, (float)c->eps, wd, c->name == APT_OPT_ADAMW, o->t);
            break;
        }
    }
}
