// clip.c — deterministic global gradient norm and clipping (torch.nn.utils.clip_grad_norm_ semantics) for
// tools and tests, through the store's op table. The training step does not call these: its norm and clip
// run inside the optimizer's one pass (optim.c apt_optim_sumsq / apt_optim_update: ops grad_sumsq and
// optim_update, the coefficient computed in backend memory), with the same order and the same bits.
#include "optim.h"

#include "backend/backend.h"
#include "core/check.h"

#include <math.h>
#include <stdlib.h>

float apt_grad_clip_coef(double norm, double max_norm) {
    if (max_norm <= 0 || !(norm > max_norm)) return 1.0f;
    return (float)(max_norm / (norm + 1e-6));
}

// The store's backend, or a cpu backend made for the call when a plain host store has none (*made).
static AptBackend *borrow_backend(const AptParamStore *ps, bool *made) {
    *made = ps->be == NULL;
    return ps->be ? ps->be : apt_backend_cpu_create();
}

double apt_grad_norm(const AptParamStore *ps) {
    bool made;
    AptBackend *be = borrow_backend(ps, &made);
    // The trainable tensors in registration order, as the optimizer's table lists them (optim.c).
    AptSegment *h = apt_calloc((size_t)(ps->n ? ps->n : 1), sizeof *h);
    int n = 0;
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        h[n++] = (AptSegment){.offset = p->offset, .numel = p->numel};
    }
    AptSegment *seg = be->alloc(be, (size_t)(n ? n : 1) * sizeof *seg);
    double *dev = be->alloc(be, sizeof(double)), total;
    if (n) be->copy(be, seg, h, (size_t)n * sizeof *seg, APT_COPY_H2D);
    be->grad_sumsq(be, seg, n, ps->g, dev);
    be->copy(be, &total, dev, sizeof(double), APT_COPY_D2H);
    be->free(be, dev);
    be->free(be, seg);
    free(h);
    if (made) apt_backend_destroy(be);
    return sqrt(total);
}

void apt_grad_scale(AptParamStore *ps, float coef) {
    if (coef == 1.0f) return;
    bool made;
    AptBackend *be = borrow_backend(ps, &made);
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        be->scale(be, p->numel, coef, ps->g + p->offset);
    }
    if (made) apt_backend_destroy(be);
}

double apt_grad_clip(AptParamStore *ps, double max_norm) {
    double norm = apt_grad_norm(ps);
    apt_grad_scale(ps, apt_grad_clip_coef(norm, max_norm));
    return norm;
}
