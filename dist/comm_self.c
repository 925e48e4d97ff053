// comm_self.c — world of one process: collectives are copies, no MPI calls.
#include "comm.h"

#include "../src/core/check.h"

#include <stdlib.h>
#include <string.h>

static void self_allreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    (void)c, (void)buf, (void)count, (void)dt, (void)op;
}
static void self_allgather(AptComm *c, const void *send, void *recv, size_t n, AptDType dt) {
    (void)c;
    if (send != recv) memmove(recv, send, n * apt_dtype_size(dt));
}
static void self_reduce_scatter(AptComm *c, const void *send, void *recv, size_t n, AptDType dt, AptRedOp op) {
    (void)c, (void)op;
    if (send != recv) memmove(recv, send, n * apt_dtype_size(dt));
}
static AptCommReq self_iallreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    (void)c, (void)buf, (void)count, (void)dt, (void)op;
    AptCommReq r = {NULL};
    return r;
}
static void self_wait(AptComm *c, AptCommReq req) { (void)c, (void)req; }
static void self_bcast(AptComm *c, void *buf, size_t count, AptDType dt, int root) {
    (void)c, (void)buf, (void)count, (void)dt, (void)root;
}
static void self_barrier(AptComm *c) { (void)c; }
static _Noreturn void self_abort(AptComm *c, int code) {
    (void)c;
    exit(code);
}
static void self_destroy(AptComm *c) { free(c); }

AptComm *apt_comm_create_self(void) {
    AptComm *c = apt_calloc(1, sizeof *c);
    c->rank = 0;
    c->world = 1;
    c->local_rank = 0;
    c->local_world = 1;
    c->name = "self";
    c->allreduce = self_allreduce;
    c->allgather = self_allgather;
    c->reduce_scatter = self_reduce_scatter;
    c->iallreduce = self_iallreduce;
    c->wait = self_wait;
    c->bcast = self_bcast;
    c->barrier = self_barrier;
    c->abort = self_abort;
    c->host = c;
    c->destroy = self_destroy;
    return c;
}
