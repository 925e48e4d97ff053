// optim.c — SGD / Adam / AdamW over the flat parameter store, with the parameter groups encoded in the
// AptParam flags (head learning-rate multiplier, no-decay set, frozen tensors).
#include "optim.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
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

// Zeroed state of n floats in the store's memory: the backend's when the store has one (device memory
// on a GPU), else the host's.
static float *alloc_state(AptParamStore *ps, size_t n) {
    if (ps->be) {
        float *p = ps->be->alloc(ps->be, (n ? n : 1) * sizeof(float));
        ps->be->fill(ps->be, n, 0.0f, p);
        return p;
    }
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
    if (!ps->m) ps->m = alloc_state(ps, ps->numel);
    if (adam && !ps->v) ps->v = alloc_state(ps, ps->numel);
    apt_param_groups_apply(ps, cfg); // layer-wise lr scale and the no-decay set (param_groups.c)
}

double apt_optim_param_lr(const AptOptim *o, const AptParam *p, double lr) {
    return (p->is_head ? lr * o->cfg.fc_lr_mul : lr) * p->lr_scale;
}

// The kernels live in the CPU op table (src/backend/cpu/cpu_optim.c); these entry points serve host
// stores without a backend (tests, references).
void apt_optim_sgd_update(float *w, const float *g, float *buf, size_t n, float lr, float wd, float mu,
                          bool nesterov) {
    apt_cpu_sgd_update(NULL, w, g, buf, n, lr, wd, mu, nesterov);
}

void apt_optim_adam_update(float *w, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
                           float eps, float wd, bool decoupled, long t) {
    apt_cpu_adam_update(NULL, w, g, m, v, n, lr, b1, b2, eps, wd, decoupled, t);
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
        AptBackend *be = ps->be; // NULL: a host store built without a backend (tests)
        switch (c->name) {
        case APT_OPT_SGD:
            if (be)
                be->sgd_update(be, w, g, ps->m + p->offset, p->numel, plr, wd, (float)c->momentum, c->nesterov);
            else
                apt_optim_sgd_update(w, g, ps->m + p->offset, p->numel, plr, wd, (float)c->momentum, c->nesterov);
            break;
        case APT_OPT_ADAM:
        case APT_OPT_ADAMW:
            if (be)
                be->adam_update(be, w, g, ps->m + p->offset, ps->v + p->offset, p->numel, plr, (float)c->beta1,
                                (float)c->beta2, (float)c->eps, wd, c->name == APT_OPT_ADAMW, o->t);
            else
                apt_optim_adam_update(w, g, ps->m + p->offset, ps->v + p->offset, p->numel, plr, (float)c->beta1,
                                      (float)c->beta2, (float)c->eps, wd, c->name == APT_OPT_ADAMW, o->t);
            break;
        }
    }
}
