// comm_record.c — a test-only wrapper that logs every collective of the communicator it wraps, one line
// per call, to DIR/comm.<rank>.log (APT_COMM_RECORD=DIR), then forwards the call. Every rank of a correct
// run issues the same collectives in the same order with the same counts and dtypes (a rank that issues
// one more, or a different count, deadlocks or corrupts a multi-node run), so the logs of all ranks must
// be identical: tests/dist/test_comm_record.c diffs them for each config family at W = 2 and 4.
//
// Line format: "<role> <name> <op> count=<elements> dtype=<dt>[ red=<op>][ root=<r>]", where role names
// the trainer's use of the communicator (host, device, grad) and name its implementation (mpi, self,
// nccl, staged). Waits and barriers are logged too (count 0): their order is part of the protocol.
// Lines are written (line-buffered, O_APPEND) before the call is forwarded, so after a hang the last line
// of each rank's log names the collective it was stuck in.
#include "comm.h"

#include "../src/core/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    AptComm *inner;
    char role[16];
    FILE *log;
    int owns;
} RecImpl;

static RecImpl *rimpl(AptComm *c) { return (RecImpl *)c->impl; }

static const char *red_name(AptRedOp op) { return op == APT_MAX ? "max" : op == APT_MIN ? "min" : "sum"; }

static void line(AptComm *c, const char *op, size_t count, AptDType dt, const char *red, int root) {
    RecImpl *r = rimpl(c);
    char extra[64] = "";
    if (red && root >= 0) snprintf(extra, sizeof extra, " red=%s root=%d", red, root);
    else if (red) snprintf(extra, sizeof extra, " red=%s", red);
    else if (root >= 0) snprintf(extra, sizeof extra, " root=%d", root);
    fprintf(r->log, "%s %s %s count=%zu dtype=%s%s\n", r->role, r->inner->name, op, count,
            count ? apt_dtype_name(dt) : "-", extra);
}

static void rec_allreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    line(c, "allreduce", count, dt, red_name(op), -1);
    rimpl(c)->inner->allreduce(rimpl(c)->inner, buf, count, dt, op);
}
static void rec_allgather(AptComm *c, const void *send, void *recv, size_t n, AptDType dt) {
    line(c, "allgather", n, dt, NULL, -1);
    rimpl(c)->inner->allgather(rimpl(c)->inner, send, recv, n, dt);
}
static void rec_reduce_scatter(AptComm *c, const void *send, void *recv, size_t n, AptDType dt, AptRedOp op) {
    line(c, "reduce_scatter", n, dt, red_name(op), -1);
    rimpl(c)->inner->reduce_scatter(rimpl(c)->inner, send, recv, n, dt, op);
}
static AptCommReq rec_iallreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    line(c, "iallreduce", count, dt, red_name(op), -1);
    return rimpl(c)->inner->iallreduce(rimpl(c)->inner, buf, count, dt, op);
}
static void rec_wait(AptComm *c, AptCommReq req) {
    line(c, "wait", 0, APT_U8, NULL, -1);
    rimpl(c)->inner->wait(rimpl(c)->inner, req);
}
static void rec_bcast(AptComm *c, void *buf, size_t count, AptDType dt, int root) {
    line(c, "bcast", count, dt, NULL, root);
    rimpl(c)->inner->bcast(rimpl(c)->inner, buf, count, dt, root);
}
static void rec_barrier(AptComm *c) {
    line(c, "barrier", 0, APT_U8, NULL, -1);
    rimpl(c)->inner->barrier(rimpl(c)->inner);
}
static void rec_abort(AptComm *c, int code) {
    fflush(rimpl(c)->log);
    rimpl(c)->inner->abort(rimpl(c)->inner, code);
    exit(code);
}
static void rec_destroy(AptComm *c) {
    RecImpl *r = rimpl(c);
    if (r->owns) r->inner->destroy(r->inner);
    fclose(r->log);
    free(r);
    free(c);
}

static int rec_poll_error(AptComm *c, char *why, size_t cap) {
    return rimpl(c)->inner->poll_error(rimpl(c)->inner, why, cap);
}

static int is_recorder(const AptComm *c) { return c && c->destroy == rec_destroy; }

AptComm *apt_comm_record_wrap(AptComm *inner, const char *role, int owns) {
    const char *dir = getenv("APT_COMM_RECORD"); // test-only; the one place it is read
    if (!inner || !dir || !dir[0]) return inner;
    AptComm *host = NULL; // what the wrapper reports as its host communicator (NULL: itself)
    if (is_recorder(inner)) { // a new role over the same communicator: never owns it
        AptComm *outer = inner;
        host = outer->host == outer ? outer : outer->host;
        inner = rimpl(outer)->inner;
        owns = 0;
    } else if (inner->host && inner->host != inner) {
        host = inner->host;
    }
    RecImpl *r = apt_calloc(1, sizeof *r);
    r->inner = inner;
    r->owns = owns;
    snprintf(r->role, sizeof r->role, "%s", role);
    char path[4096];
    snprintf(path, sizeof path, "%s/comm.%d.log", dir, inner->rank);
    r->log = fopen(path, "a");
    APT_CHECK(r->log, "APT_COMM_RECORD: cannot open %s", path);
    setvbuf(r->log, NULL, _IOLBF, 0); // one write(2) per line: several wrappers append in call order
    AptComm *c = apt_calloc(1, sizeof *c);
    c->rank = inner->rank;
    c->world = inner->world;
    c->local_rank = inner->local_rank;
    c->local_world = inner->local_world;
    c->name = inner->name; // callers test the implementation by name ("staged", "nccl", "mpi")
    c->allreduce = rec_allreduce;
    c->allgather = rec_allgather;
    c->reduce_scatter = rec_reduce_scatter;
    c->iallreduce = rec_iallreduce;
    c->wait = rec_wait;
    c->bcast = rec_bcast;
    c->barrier = rec_barrier;
    c->abort = rec_abort;
    c->destroy = rec_destroy;
    c->poll_error = inner->poll_error ? rec_poll_error : NULL; // not a collective: passed through, unlogged
    c->host = host ? host : c;
    c->impl = r;
    return c;
}

AptComm *apt_comm_record_inner(AptComm *c) { return is_recorder(c) ? rimpl(c)->inner : c; }

void apt_comm_record_end(AptComm *c) {
    if (is_recorder(c)) c->destroy(c);
}
