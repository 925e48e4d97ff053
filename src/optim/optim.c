// optim.c — SGD / Adam / AdamW over the flat parameter store as ONE op call per step (llm.c's gpt2_update):
// the parameter groups (head learning-rate multiplier, no-decay set, frozen tensors, layer-wise decay) are
// encoded in the AptParam flags and become a segment table in backend memory at set-up.
#include "optim.h"

#include "backend/backend.h"
#include "core/check.h"

#include <stdlib.h>
#include <string.h>

const char *apt_optim_name(AptOptimName n) {
    switch (n) {
    case APT_OPT_ADAM: return "adam";
    case APT_OPT_ADAMW: return "adamw";
    case APT_OPT_SGD: return "sgd";
    }
    return "?";
}

// Zeroed state of n floats in the store's backend memory.
static float *alloc_state(AptBackend *be, size_t n) {
    float *p = be->alloc(be, (n ? n : 1) * sizeof(float));
    be->fill(be, n, 0.0f, p);
    return p;
}

// The store's backend; a plain host store (built without one: tests, references) gets a cpu backend of its
// own, destroyed with the store, so the optimizer has one path whatever the store.
static AptBackend *store_backend(AptParamStore *ps) {
    if (!ps->be) {
        ps->be = apt_backend_cpu_create();
        ps->owns_be = true;
    }
    return ps->be;
}

// The segment table: every trainable tensor, in registration order (the order of the per-tensor loops it
// replaces, so the gradient norm sums in the same order), with the learning-rate factors and weight decay
// of its group. Built on the host and copied once into backend memory, followed by the scalar scratch of
// apt_optim_step.
static void build_segments(AptOptim *o) {
    AptParamStore *ps = o->ps;
    AptBackend *be = o->be;
    AptSegment *h = apt_calloc((size_t)(ps->n ? ps->n : 1), sizeof *h);
    int n = 0;
    o->max_numel = o->numel_total = 0;
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        h[n] = (AptSegment){.offset = p->offset,
                            .numel = p->numel,
                            .lr_mul = p->is_head ? o->cfg.fc_lr_mul : 1.0, // lr * 1.0 == lr: bits as before
                            .lr_scale = (double)p->lr_scale,
                            .wd = p->decay ? (float)o->cfg.weight_decay : 0.0f};
        if (p->numel > o->max_numel) o->max_numel = p->numel;
        o->numel_total += p->numel;
        n++;
    }
    const size_t seg_bytes = (size_t)(n ? n : 1) * sizeof(AptSegment);
    if (ps->optim_seg) be->free(be, ps->optim_seg); // a second apt_optim_init on the same store
    char *blk = be->alloc(be, seg_bytes + APT_SCALAR_COUNT * sizeof(double));
    if (n) be->copy(be, blk, h, (size_t)n * sizeof(AptSegment), APT_COPY_H2D);
    free(h);
    ps->optim_seg = blk;
    o->seg = (AptSegment *)blk;
    o->n_seg = n;
    o->scal = (double *)(blk + seg_bytes);
}

void apt_optim_init(AptOptim *o, const AptOptimConfig *cfg, AptParamStore *ps) {
    APT_CHECK(ps->finalized, "optimizer created before the parameter store is finalized");
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->ps = ps;
    o->be = store_backend(ps);
    bool adam = cfg->name == APT_OPT_ADAM || cfg->name == APT_OPT_ADAMW;
    // SGD without momentum keeps no state, but m is still allocated so checkpoints have one layout.
    if (!ps->m) ps->m = alloc_state(o->be, ps->numel);
    if (adam && !ps->v) ps->v = alloc_state(o->be, ps->numel);
    apt_param_groups_apply(ps, cfg); // layer-wise lr scale and the no-decay set (param_groups.c)
    build_segments(o);
}

double apt_optim_param_lr(const AptOptim *o, const AptParam *p, double lr) {
    return (p->is_head ? lr * o->cfg.fc_lr_mul : lr) * p->lr_scale;
}

void apt_optim_sumsq(const AptOptim *o, double *out) {
    o->be->grad_sumsq(o->be, o->seg, o->n_seg, o->ps->g, out);
}

void apt_optim_update(AptOptim *o, double lr, const double *scal) {
    const AptOptimConfig *c = &o->cfg;
    AptParamStore *ps = o->ps;
    const AptOptimPass pass = {
        .kind = c->name == APT_OPT_SGD ? APT_UPDATE_SGD : c->name == APT_OPT_ADAMW ? APT_UPDATE_ADAMW : APT_UPDATE_ADAM,
        .seg = o->seg,
        .n_seg = o->n_seg,
        .max_numel = o->max_numel,
        .numel_total = o->numel_total,
        .lr = lr,
        .max_norm = c->clip_grad_norm,
        .mu = (float)c->momentum,
        .nesterov = c->nesterov,
        .b1 = (float)c->beta1,
        .b2 = (float)c->beta2,
        .eps = (float)c->eps,
        .t = o->t + 1, // the count after this update; apt_optim_done makes it so
    };
    o->be->optim_update(o->be, &pass, ps->w, ps->g, ps->m, ps->v, scal);
}

void apt_optim_done(AptOptim *o) {
    o->t++;
}

void apt_optim_step(AptOptim *o, double lr) {
    AptBackend *be = o->be;
    // A block saying "finite, sum of squares 0": no clipping whatever max_norm is, nothing skipped.
    be->fill_f64(be, APT_SCALAR_COUNT, 0.0, o->scal);
    be->fill_f64(be, 1, 1.0, &o->scal[APT_SCALAR_FINITE]);
    apt_optim_update(o, lr, o->scal);
    apt_optim_done(o);
}
