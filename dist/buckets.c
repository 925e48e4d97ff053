// buckets.c — see buckets.h. Bucket k covers [start[k], end[k]) with end[0] = numel and start decreasing;
// `next` is the first bucket not yet started, so ready_from is O(buckets started) over a whole step.
#include "buckets.h"

#include <stdlib.h>

#include "../src/core/check.h"

struct AptBuckets {
    AptComm *comm;
    char *grads;
    size_t numel, esize;
    AptDType dt;
    int n, next;
    size_t *start, *end;
    AptCommReq *req;
};

AptBuckets *apt_buckets_create(AptComm *c, void *grads, size_t numel, AptDType dt, size_t bucket_elems) {
    APT_CHECK(c && grads && numel > 0 && bucket_elems > 0, "buckets: numel %zu bucket_elems %zu", numel,
              bucket_elems);
    AptBuckets *b = apt_calloc(1, sizeof *b);
    b->comm = c;
    b->grads = grads;
    b->numel = numel;
    b->dt = dt;
    b->esize = apt_dtype_size(dt);
    b->n = (int)((numel + bucket_elems - 1) / bucket_elems);
    b->start = apt_malloc((size_t)b->n * sizeof *b->start);
    b->end = apt_malloc((size_t)b->n * sizeof *b->end);
    b->req = apt_calloc((size_t)b->n, sizeof *b->req);
    for (int k = 0; k < b->n; k++) {
        b->end[k] = numel - (size_t)k * bucket_elems;
        b->start[k] = b->end[k] > bucket_elems ? b->end[k] - bucket_elems : 0;
    }
    return b;
}

void apt_buckets_ready_from(AptBuckets *b, size_t lo) {
    while (b->next < b->n && b->start[b->next] >= lo) {
        const int k = b->next++;
        b->req[k] = b->comm->iallreduce(b->comm, b->grads + b->start[k] * b->esize, b->end[k] - b->start[k], b->dt,
                                        APT_SUM);
    }
}

void apt_buckets_wait(AptBuckets *b) {
    apt_buckets_ready_from(b, 0);
    for (int k = 0; k < b->n; k++) {
        b->comm->wait(b->comm, b->req[k]);
        b->req[k].impl = NULL;
    }
    b->next = 0;
}

int apt_buckets_count(const AptBuckets *b) { return b->n; }
int apt_buckets_launched(const AptBuckets *b) { return b->next; }

void apt_buckets_free(AptBuckets *b) {
    if (!b) return;
    free(b->start);
    free(b->end);
    free(b->req);
    free(b);
}
