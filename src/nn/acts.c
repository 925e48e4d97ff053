// acts.c — the activation arena (see acts.h).
#include "acts.h"

#include "core/check.h"

#include <stdlib.h>
#include <string.h>

void apt_acts_init(AptActs *a, AptBackend *be) {
    memset(a, 0, sizeof *a);
    a->be = be;
}

void apt_acts_request(AptActs *a, void *slot, size_t bytes) {
    APT_CHECK(!a->block, "activation requested after the arena was allocated");
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 128;
        a->req = realloc(a->req, (size_t)a->cap * sizeof *a->req);
        APT_CHECK(a->req, "out of memory");
    }
    a->req[a->n++] = (AptActReq){(void **)slot, bytes};
    a->total += (bytes + 63) / 64 * 64;
}

void apt_acts_alloc(AptActs *a) {
    a->block = a->be->alloc(a->be, a->total ? a->total : 64);
    size_t off = 0;
    for (int i = 0; i < a->n; i++) {
        *a->req[i].slot = (char *)a->block + off;
        off += (a->req[i].bytes + 63) / 64 * 64;
    }
}

void apt_acts_free(AptActs *a) {
    if (a->block) a->be->free(a->be, a->block);
    free(a->req);
    memset(a, 0, sizeof *a);
}
