// acts.c — the activation arena (see acts.h).
#include "acts.h"

#include "core/check.h"

#include <stdlib.h>
#include <string.h>

void apt_acts_init(AptActs *a, AptBackend *be) {
    memset(a, 0, sizeof *a);
    a->be = be;
}

void apt_acts_request_shared(AptActs *a, void *slot, size_t bytes, int key) {
    APT_CHECK(!a->block, "activation requested after the arena was allocated");
    APT_CHECK(key >= 0, "negative sharing key");
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 128;
        a->req = realloc(a->req, (size_t)a->cap * sizeof *a->req);
        APT_CHECK(a->req, "out of memory");
    }
    a->req[a->n++] = (AptActReq){(void **)slot, bytes, key, false};
}

void apt_acts_request_saved(AptActs *a, void *slot, size_t bytes) {
    apt_acts_request_shared(a, slot, bytes, 0);
    a->req[a->n - 1].saved = true;
}

void apt_acts_request(AptActs *a, void *slot, size_t bytes) {
    apt_acts_request_shared(a, slot, bytes, 0);
}

static size_t round64(size_t b) {
    return (b + 63) / 64 * 64;
}

// Layout: private buffers in request order, then one region per key (in first-request order) sized to
// the largest request of that key.
void apt_acts_alloc(AptActs *a) {
    size_t *off = apt_calloc((size_t)(a->n ? a->n : 1), sizeof *off), total = 0;
    a->saved = 0;
    for (int i = 0; i < a->n; i++)
        if (!a->req[i].key) {
            off[i] = total, total += round64(a->req[i].bytes);
            if (a->req[i].saved) a->saved += round64(a->req[i].bytes);
        }
    for (int i = 0; i < a->n; i++) {
        if (!a->req[i].key) continue;
        int first = i;
        for (int j = 0; j < i && first == i; j++)
            if (a->req[j].key == a->req[i].key) first = j;
        if (first != i) {
            off[i] = off[first];
            continue;
        }
        size_t big = 0;
        for (int j = i; j < a->n; j++)
            if (a->req[j].key == a->req[i].key && a->req[j].bytes > big) big = a->req[j].bytes;
        off[i] = total;
        total += round64(big);
    }
    a->total = total;
    a->block = a->be->alloc(a->be, total ? total : 64);
    for (int i = 0; i < a->n; i++)
        *a->req[i].slot = (char *)a->block + off[i];
    free(off);
}

void apt_acts_free(AptActs *a) {
    if (a->block) a->be->free(a->be, a->block);
    free(a->req);
    memset(a, 0, sizeof *a);
}
