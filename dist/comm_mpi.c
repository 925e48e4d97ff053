// comm_mpi.c — host-memory collectives over MPI_COMM_WORLD (CPU training, host scalars, eval).
#include "comm.h"

#include "mpi_check.h"

#include <stdint.h>
#include <stdlib.h>

static MPI_Datatype mpi_type(AptDType dt) {
    switch (dt) {
    case APT_F32: return MPI_FLOAT;
    case APT_F64: return MPI_DOUBLE;
    case APT_I32: return MPI_INT32_T;
    case APT_I64: return MPI_INT64_T;
    case APT_U8: return MPI_UINT8_T;
    case APT_BF16: break;
    }
    apt_fatal(__FILE__, __LINE__, "dtype %s has no MPI reduction on the host", apt_dtype_name(dt));
}

static MPI_Op mpi_op(AptRedOp op) { return op == APT_MAX ? MPI_MAX : op == APT_MIN ? MPI_MIN : MPI_SUM; }

// MPI counts are int: split large buffers so 2^31+ element gradients still work.
#define APT_MPI_CHUNK ((size_t)1 << 30)

static void mpi_allreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    (void)c;
    char *p = buf;
    for (size_t off = 0; off < count; off += APT_MPI_CHUNK) {
        size_t n = count - off < APT_MPI_CHUNK ? count - off : APT_MPI_CHUNK;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p + off * apt_dtype_size(dt), (int)n, mpi_type(dt), mpi_op(op),
                                MPI_COMM_WORLD));
    }
}

static void mpi_allgather(AptComm *c, const void *send, void *recv, size_t n, AptDType dt) {
    (void)c;
    APT_CHECK(n <= INT32_MAX, "allgather of %zu elements per rank exceeds MPI's int count", n);
    MPI_CHECK(MPI_Allgather(send, (int)n, mpi_type(dt), recv, (int)n, mpi_type(dt), MPI_COMM_WORLD));
}

static void mpi_reduce_scatter(AptComm *c, const void *send, void *recv, size_t n, AptDType dt, AptRedOp op) {
    (void)c;
    APT_CHECK(n <= INT32_MAX, "reduce_scatter of %zu elements per rank exceeds MPI's int count", n);
    MPI_CHECK(MPI_Reduce_scatter_block(send, recv, (int)n, mpi_type(dt), mpi_op(op), MPI_COMM_WORLD));
}

// Outstanding non-blocking requests live in a fixed pool set up with the communicator, so gradient
// buckets never allocate inside the training step.
#define APT_MPI_MAX_REQS 256
typedef struct {
    MPI_Request req[APT_MPI_MAX_REQS];
    int busy[APT_MPI_MAX_REQS];
    int next; // round-robin search start
} MpiImpl;

static AptCommReq mpi_iallreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    APT_CHECK(count <= INT32_MAX, "iallreduce of %zu elements exceeds MPI's int count", count);
    MpiImpl *m = c->impl;
    int slot = -1;
    for (int k = 0; k < APT_MPI_MAX_REQS && slot < 0; k++) {
        int i = (m->next + k) % APT_MPI_MAX_REQS;
        if (!m->busy[i]) slot = i;
    }
    APT_CHECK(slot >= 0, "more than %d outstanding non-blocking collectives", APT_MPI_MAX_REQS);
    m->busy[slot] = 1;
    m->next = (slot + 1) % APT_MPI_MAX_REQS;
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, mpi_type(dt), mpi_op(op), MPI_COMM_WORLD,
                             &m->req[slot]));
    AptCommReq r = {&m->busy[slot]};
    return r;
}

static void mpi_wait(AptComm *c, AptCommReq r) {
    if (!r.impl) return;
    MpiImpl *m = c->impl;
    int slot = (int)((int *)r.impl - m->busy);
    APT_CHECK(slot >= 0 && slot < APT_MPI_MAX_REQS && m->busy[slot], "wait on a request that is not outstanding");
    MPI_CHECK(MPI_Wait(&m->req[slot], MPI_STATUS_IGNORE));
    m->busy[slot] = 0;
}

static void mpi_bcast(AptComm *c, void *buf, size_t count, AptDType dt, int root) {
    (void)c;
    APT_CHECK(count <= INT32_MAX, "bcast of %zu elements exceeds MPI's int count", count);
    MPI_CHECK(MPI_Bcast(buf, (int)count, dt == APT_BF16 ? MPI_UINT16_T : mpi_type(dt), root, MPI_COMM_WORLD));
}

static void mpi_barrier(AptComm *c) {
    (void)c;
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

static _Noreturn void mpi_abort(AptComm *c, int code) {
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

static void mpi_destroy(AptComm *c) {
    free(c->impl);
    free(c);
}

AptComm *apt_comm_mpi_create(int rank, int world, int local_rank, int local_world) {
    AptComm *c = apt_calloc(1, sizeof *c);
    c->rank = rank;
    c->world = world;
    c->local_rank = local_rank;
    c->local_world = local_world;
    c->name = "mpi";
    c->allreduce = mpi_allreduce;
    c->allgather = mpi_allgather;
    c->reduce_scatter = mpi_reduce_scatter;
    c->iallreduce = mpi_iallreduce;
    c->wait = mpi_wait;
    c->bcast = mpi_bcast;
    c->barrier = mpi_barrier;
    c->abort = mpi_abort;
    c->host = c;
    c->destroy = mpi_destroy;
    c->impl = apt_calloc(1, sizeof(MpiImpl));
    return c;
}
