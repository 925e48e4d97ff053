// clip.c — deterministic global gradient norm and clipping (torch.nn.utils.clip_grad_norm_ semantics),
// through the store's op table: the sum of squares stays in backend memory until the step reads its
// scalars, and the scaling is one op per tensor.
#include "optim.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "core/check.h"

#include <math.h>

void apt_grad_sumsq(const AptParamStore *ps, double *out) {
    APT_CHECK(ps->be, "gradient sum of squares: the store has no backend");
    AptBackend *be = ps->be;
    bool first = true;
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        be->sumsq(be, p->numel, ps->g + p->offset, out, !first); // registration order, float64
        first = false;
    }
    if (first) be->fill_f64(be, 1, 0.0, out);
}

float apt_grad_clip_coef(double norm, double max_norm) {
    if (max_norm <= 0 || !(norm > max_norm)) return 1.0f;
    return (float)(max_norm / (norm + 1e-6));
}

void apt_grad_scale(AptParamStore *ps, float coef) {
    if (coef == 1.0f) return;
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        if (ps->be)
            ps->be->scale(ps->be, p->numel, coef, ps->g + p->offset);
        else
            apt_cpu_scale(NULL, p->numel, coef, ps->g + p->offset);
    }
}

double apt_grad_norm(const AptParamStore *ps) {
    double total = 0;
    if (ps->be && ps->on_device) { // a scratch scalar in backend memory (tests and tools; the step has its own)
        AptBackend *be = ps->be;
        double *dev = be->alloc(be, sizeof(double));
        apt_grad_sumsq(ps, dev);
        be->copy(be, &total, dev, sizeof(double), APT_COPY_D2H);
        be->free(be, dev);
        return sqrt(total);
    }
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        apt_cpu_sumsq(NULL, p->numel, ps->g + p->offset, &total, true);
    }
    return sqrt(total);
}

double apt_grad_clip(AptParamStore *ps, double max_norm) {
    double norm = apt_grad_norm(ps);
    apt_grad_scale(ps, apt_grad_clip_coef(norm, max_norm));
    return norm;
}
