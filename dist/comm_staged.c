// comm_staged.c — collectives on buffers in another memory (a GPU's, or the guard test backend's) over a
// host communicator that cannot read it (Debian's Open MPI is not CUDA-aware): every collective copies
// its input to host scratch through the caller's copy function, runs on the host communicator, and
// copies the result back. Non-blocking all-reduces (gradient buckets) keep their scratch until wait.
// With a world of one process no data moves through the host: gathers and scatters are one
// memory-to-memory copy, all-reduces are nothing.
#include "comm.h"

#include "../src/core/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STAGED_MAX_REQS 256

typedef struct {
    AptCommReq req; // the host request
    void *dev;      // where the result goes back
    void *host;     // scratch holding it
    size_t bytes;
    AptDType dt;
    AptRedOp op;
    int busy;
} StagedReq;

typedef struct {
    AptComm *host;
    AptCommCopyFn copy;
    void *ctx;
    char *scratch;
    size_t cap, used;
    int outstanding;
    double premul; // apt_comm_test_bucket_premul(): 1 outside tests
    StagedReq req[STAGED_MAX_REQS];
} StagedImpl;

static StagedImpl *simpl(AptComm *c) { return (StagedImpl *)c->impl; }

// Bump allocation in the scratch; blocking collectives give theirs back (used = mark), non-blocking ones
// keep theirs until every outstanding request has been waited for.
static void *take(StagedImpl *s, size_t bytes) {
    size_t at = (s->used + 63) / 64 * 64;
    APT_CHECK(at + bytes <= s->cap,
              "staged communicator: %zu bytes of host scratch needed, %zu reserved at set-up (%zu in use)", bytes,
              s->cap, s->used);
    s->used = at + bytes;
    return s->scratch + at;
}

static void staged_allreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    StagedImpl *s = simpl(c);
    if (c->world == 1 || !count) return;
    size_t mark = s->used, bytes = count * apt_dtype_size(dt);
    void *h = take(s, bytes);
    s->copy(s->ctx, h, buf, bytes, APT_STAGE_D2H);
    s->host->allreduce(s->host, h, count, dt, op);
    s->copy(s->ctx, buf, h, bytes, APT_STAGE_H2D);
    s->used = mark;
}

static void staged_allgather(AptComm *c, const void *send, void *recv, size_t n, AptDType dt) {
    StagedImpl *s = simpl(c);
    size_t bytes = n * apt_dtype_size(dt);
    if (c->world == 1) {
        if (send != recv && bytes) s->copy(s->ctx, recv, send, bytes, APT_STAGE_D2D);
        return;
    }
    size_t mark = s->used;
    void *hs = take(s, bytes), *hr = take(s, bytes * (size_t)c->world);
    s->copy(s->ctx, hs, send, bytes, APT_STAGE_D2H);
    s->host->allgather(s->host, hs, hr, n, dt);
    s->copy(s->ctx, recv, hr, bytes * (size_t)c->world, APT_STAGE_H2D);
    s->used = mark;
}

static void staged_reduce_scatter(AptComm *c, const void *send, void *recv, size_t n, AptDType dt, AptRedOp op) {
    StagedImpl *s = simpl(c);
    size_t bytes = n * apt_dtype_size(dt);
    if (c->world == 1) {
        if (send != recv && bytes) s->copy(s->ctx, recv, send, bytes, APT_STAGE_D2D);
        return;
    }
    size_t mark = s->used;
    void *hs = take(s, bytes * (size_t)c->world), *hr = take(s, bytes);
    s->copy(s->ctx, hs, send, bytes * (size_t)c->world, APT_STAGE_D2H);
    s->host->reduce_scatter(s->host, hs, hr, n, dt, op);
    s->copy(s->ctx, recv, hr, bytes, APT_STAGE_H2D);
    s->used = mark;
}

static AptCommReq staged_iallreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    StagedImpl *s = simpl(c);
    AptCommReq none = {NULL};
    if ((c->world == 1 && s->premul == 1.0) || !count) return none;
    int slot = -1;
    for (int k = 0; k < STAGED_MAX_REQS && slot < 0; k++)
        if (!s->req[k].busy) slot = k;
    APT_CHECK(slot >= 0, "staged communicator: more than %d outstanding non-blocking collectives", STAGED_MAX_REQS);
    StagedReq *r = &s->req[slot];
    r->bytes = count * apt_dtype_size(dt);
    r->host = take(s, r->bytes);
    r->dev = buf;
    r->dt = dt;
    r->op = op;
    s->copy(s->ctx, r->host, buf, r->bytes, APT_STAGE_D2H);
    r->req = s->host->iallreduce(s->host, r->host, count, dt, op);
    r->busy = 1;
    s->outstanding++;
    AptCommReq out = {r};
    return out;
}

// The test hook (comm.h): the summed bucket times premul, on the host scratch before it goes back.
static void premul(const StagedImpl *s, StagedReq *r) {
    APT_CHECK(r->dt == APT_F32 || r->dt == APT_F64, "APT_TEST_BUCKET_PREMUL: dtype %s", apt_dtype_name(r->dt));
    size_t n = r->bytes / apt_dtype_size(r->dt);
    if (r->dt == APT_F32)
        for (size_t i = 0; i < n; i++) ((float *)r->host)[i] *= (float)s->premul;
    else
        for (size_t i = 0; i < n; i++) ((double *)r->host)[i] *= s->premul;
}

static void staged_wait(AptComm *c, AptCommReq q) {
    StagedImpl *s = simpl(c);
    if (!q.impl) return;
    StagedReq *r = q.impl;
    APT_CHECK(r >= s->req && r < s->req + STAGED_MAX_REQS && r->busy, "wait on a request that is not outstanding");
    s->host->wait(s->host, r->req);
    if (s->premul != 1.0 && r->op == APT_SUM) premul(s, r);
    s->copy(s->ctx, r->dev, r->host, r->bytes, APT_STAGE_H2D);
    r->busy = 0;
    if (--s->outstanding == 0) s->used = 0;
}

static void staged_bcast(AptComm *c, void *buf, size_t count, AptDType dt, int root) {
    StagedImpl *s = simpl(c);
    if (c->world == 1 || !count) return;
    size_t mark = s->used, bytes = count * apt_dtype_size(dt);
    void *h = take(s, bytes);
    if (c->rank == root) s->copy(s->ctx, h, buf, bytes, APT_STAGE_D2H);
    s->host->bcast(s->host, h, count, dt, root);
    if (c->rank != root) s->copy(s->ctx, buf, h, bytes, APT_STAGE_H2D);
    s->used = mark;
}

static void staged_barrier(AptComm *c) { simpl(c)->host->barrier(simpl(c)->host); }

static void staged_abort(AptComm *c, int code) { simpl(c)->host->abort(simpl(c)->host, code); }

static void staged_destroy(AptComm *c) {
    StagedImpl *s = simpl(c);
    free(s->scratch);
    free(s);
    free(c);
}

void apt_comm_staged_reserve(AptComm *c, size_t scratch_bytes) {
    c = apt_comm_record_inner(c); // the trainer may hold it wrapped in the test-only recorder
    StagedImpl *s = simpl(c);
    APT_CHECK(s->used == 0 && s->outstanding == 0, "staged communicator: reserve while collectives are in flight");
    if ((c->world == 1 && s->premul == 1.0) || scratch_bytes <= s->cap) return;
    free(s->scratch);
    s->scratch = apt_aligned_alloc(scratch_bytes);
    s->cap = scratch_bytes;
}

AptComm *apt_comm_staged_create(AptComm *host, AptCommCopyFn copy, void *ctx, size_t scratch_bytes) {
    APT_CHECK(host && copy, "staged communicator without a host communicator or a copy function");
    StagedImpl *s = apt_calloc(1, sizeof *s);
    s->host = host;
    s->copy = copy;
    s->ctx = ctx;
    s->premul = apt_comm_test_bucket_premul();
    s->cap = host->world > 1 || s->premul != 1.0 ? scratch_bytes : 0;
    s->scratch = s->cap ? apt_aligned_alloc(s->cap) : NULL;
    AptComm *c = apt_calloc(1, sizeof *c);
    c->rank = host->rank;
    c->world = host->world;
    c->local_rank = host->local_rank;
    c->local_world = host->local_world;
    c->name = "staged";
    c->allreduce = staged_allreduce;
    c->allgather = staged_allgather;
    c->reduce_scatter = staged_reduce_scatter;
    c->iallreduce = staged_iallreduce;
    c->wait = staged_wait;
    c->bcast = staged_bcast;
    c->barrier = staged_barrier;
    c->abort = staged_abort;
    c->destroy = staged_destroy;
    c->host = host->host ? host->host : host;
    c->impl = s;
    return c;
}
