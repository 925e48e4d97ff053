// params.c — the flat parameter registry.
#include "params.h"

#include "backend/backend.h"
#include "core/check.h"

#include <stdlib.h>
#include <string.h>

static size_t round_up(size_t n) {
    return (n + APT_PARAM_ALIGN - 1) / APT_PARAM_ALIGN * APT_PARAM_ALIGN;
}

void apt_params_init(AptParamStore *s) {
    memset(s, 0, sizeof *s);
}

int apt_params_add(AptParamStore *s, const char *name, int ndim, const int *shape, bool is_buffer) {
    APT_CHECK(!s->finalized, "parameter %s registered after finalize", name);
    APT_CHECK(ndim >= 1 && ndim <= 4, "parameter %s: ndim %d", name, ndim);
    APT_CHECK(strlen(name) < sizeof s->p[0].name, "parameter name too long: %s", name);
    APT_CHECK(apt_params_find(s, name) < 0, "parameter %s registered twice", name);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->p = realloc(s->p, (size_t)s->cap * sizeof *s->p);
        APT_CHECK(s->p, "out of memory");
    }
    AptParam *p = &s->p[s->n];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->is_buffer = is_buffer;
    p->trainable = !is_buffer;
    p->decay = !is_buffer;
    p->lr_scale = 1.0f;
    size_t *total = is_buffer ? &s->buffers_numel : &s->numel;
    p->offset = *total;
    *total += round_up(p->numel);
    return s->n++;
}

void apt_params_finalize(AptParamStore *s) {
    APT_CHECK(!s->finalized, "finalize twice");
    s->w = apt_aligned_alloc(s->numel * sizeof(float));
    s->g = apt_aligned_alloc(s->numel * sizeof(float));
    memset(s->w, 0, s->numel * sizeof(float));
    memset(s->g, 0, s->numel * sizeof(float));
    s->buffers = apt_aligned_alloc((s->buffers_numel ? s->buffers_numel : 1) * sizeof(float));
    memset(s->buffers, 0, s->buffers_numel * sizeof(float));
    s->finalized = true;
}

void apt_params_finalize_on(AptParamStore *s, AptBackend *be) {
    if (!be || apt_backend_is_host(be)) {
        apt_params_finalize(s);
        s->be = be; // optimizer state and the step's ops go through it (on_device stays false)
        return;
    }
    APT_CHECK(!s->finalized, "finalize twice");
    s->be = be;
    s->on_device = true;
    s->w = be->alloc(be, (s->numel ? s->numel : 1) * sizeof(float));
    s->g = be->alloc(be, (s->numel ? s->numel : 1) * sizeof(float));
    s->buffers = be->alloc(be, (s->buffers_numel ? s->buffers_numel : 1) * sizeof(float));
    be->fill(be, s->numel, 0.0f, s->w);
    be->fill(be, s->numel, 0.0f, s->g);
    be->fill(be, s->buffers_numel, 0.0f, s->buffers);
    be->sync(be);
    s->finalized = true;
}

float *apt_params_w(AptParamStore *s, int idx) {
    APT_CHECK(s->finalized && idx >= 0 && idx < s->n, "bad parameter index %d", idx);
    return (s->p[idx].is_buffer ? s->buffers : s->w) + s->p[idx].offset;
}

float *apt_params_g(AptParamStore *s, int idx) {
    APT_CHECK(s->finalized && idx >= 0 && idx < s->n, "bad parameter index %d", idx);
    return s->p[idx].is_buffer ? NULL : s->g + s->p[idx].offset;
}

int apt_params_find(const AptParamStore *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->p[i].name, name) == 0) return i;
    return -1;
}

void apt_params_zero_grad(AptParamStore *s) {
    if (s->on_device)
        s->be->fill(s->be, s->numel, 0.0f, s->g);
    else
        memset(s->g, 0, s->numel * sizeof(float));
}

void apt_params_free(AptParamStore *s) {
    if (s->optim_seg) s->be->free(s->be, s->optim_seg);
    s->optim_seg = NULL;
    AptBackend *owned = s->owns_be ? s->be : NULL; // destroyed last: m and v may be its allocations
    if (s->on_device) { // every buffer of a device store is device memory, m and v included
        float *bufs[5] = {s->w, s->g, s->m, s->v, s->buffers};
        for (int i = 0; i < 5; i++)
            if (bufs[i]) s->be->free(s->be, bufs[i]);
        s->w = s->g = s->m = s->v = s->buffers = NULL;
    }
    free(s->w);
    free(s->g);
    free(s->m);
    free(s->v);
    free(s->buffers);
    free(s->p);
    memset(s, 0, sizeof *s);
    if (owned) apt_backend_destroy(owned);
}

// Host mirror of a device store: same registry (shared, not owned), host copies of w, m, v and buffers.
void apt_params_host_mirror(const AptParamStore *s, AptParamStore *h) {
    APT_CHECK(s->finalized, "host mirror of an unfinalized parameter store");
    *h = *s;
    // The mirror owns a copy of the registry: it must outlive the store (tests compare two runs after
    // both trainers are gone).
    h->cap = s->n ? s->n : 1;
    h->p = apt_malloc((size_t)h->cap * sizeof(AptParam));
    if (s->n) memcpy(h->p, s->p, (size_t)s->n * sizeof(AptParam));
    h->on_device = false;
    h->g = NULL;
    h->owns_be = false;     // the store's, not the mirror's
    h->optim_seg = NULL;
    const size_t n = s->numel ? s->numel : 1, nb = s->buffers_numel ? s->buffers_numel : 1;
    h->w = apt_malloc(n * sizeof(float));
    h->buffers = apt_malloc(nb * sizeof(float));
    h->m = s->m ? apt_malloc(n * sizeof(float)) : NULL;
    h->v = s->v ? apt_malloc(n * sizeof(float)) : NULL;
    if (!s->on_device) {
        memcpy(h->w, s->w, s->numel * sizeof(float));
        memcpy(h->buffers, s->buffers, s->buffers_numel * sizeof(float));
        if (s->m) memcpy(h->m, s->m, s->numel * sizeof(float));
        if (s->v) memcpy(h->v, s->v, s->numel * sizeof(float));
        return;
    }
    AptBackend *be = s->be;
    be->copy(be, h->w, s->w, s->numel * sizeof(float), APT_COPY_D2H);
    be->copy(be, h->buffers, s->buffers, s->buffers_numel * sizeof(float), APT_COPY_D2H);
    if (s->m) be->copy(be, h->m, s->m, s->numel * sizeof(float), APT_COPY_D2H);
    if (s->v) be->copy(be, h->v, s->v, s->numel * sizeof(float), APT_COPY_D2H);
}

void apt_params_host_upload(const AptParamStore *h, AptParamStore *s) {
    AptBackend *be = s->on_device ? s->be : NULL;
    AptCopyDir dir = APT_COPY_H2D;
    if (!be) { // host store: plain copies
        memcpy(s->w, h->w, s->numel * sizeof(float));
        memcpy(s->buffers, h->buffers, s->buffers_numel * sizeof(float));
        if (s->m && h->m) memcpy(s->m, h->m, s->numel * sizeof(float));
        if (s->v && h->v) memcpy(s->v, h->v, s->numel * sizeof(float));
        return;
    }
    be->copy(be, s->w, h->w, s->numel * sizeof(float), dir);
    be->copy(be, s->buffers, h->buffers, s->buffers_numel * sizeof(float), dir);
    if (s->m && h->m) be->copy(be, s->m, h->m, s->numel * sizeof(float), dir);
    if (s->v && h->v) be->copy(be, s->v, h->v, s->numel * sizeof(float), dir);
}

void apt_params_host_free(AptParamStore *h) {
    free(h->p);
    free(h->w);
    free(h->buffers);
    free(h->m);
    free(h->v);
    memset(h, 0, sizeof *h);
}
