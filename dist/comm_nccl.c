// comm_nccl.c — NCCL communicator: device buffers, compute stream + communication stream.
//
// Asynchronous all-reduces (gradient buckets) run on a high-priority communication stream so NCCL's
// kernels are scheduled as soon as a bucket is final instead of queueing behind backward's kernels.
// Requests are slots of a fixed ring created at set-up (an event each): no allocation, no event creation
// inside the step.
#include "comm_nccl.h"

#include "mpi_check.h"
#include "nccl_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define APT_NCCL_MAX_INFLIGHT 256 // outstanding iallreduce requests (buckets per step)
// How long barrier/destroy wait for the device before declaring the job hung (a peer died without NCCL
// noticing, a kernel that never ends). Overridden by APT_NCCL_TIMEOUT_S (seconds).
#define APT_NCCL_TIMEOUT_S_DEFAULT 1800.0

typedef struct {
    cudaEvent_t done;
    int busy;
} NcclReq;

typedef struct {
    ncclComm_t nccl;
    int device;
    cudaStream_t compute, comm_stream;
    cudaEvent_t ready; // compute stream position an async collective must follow
    cudaEvent_t drained[2]; // barrier: positions of the compute and communication streams
    AptComm *host;
    double premul; // apt_comm_test_bucket_premul(): 1 outside tests
    NcclReq req[APT_NCCL_MAX_INFLIGHT];
    int next_req;
} NcclImpl;

int apt_cuda_device_count(void) {
    int n = 0; // cudaGetDeviceCount leaves n untouched on error (e.g. 35, no driver): treat any error as none
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
}

static ncclDataType_t nccl_type(AptDType dt) {
    switch (dt) {
    case APT_F32: return ncclFloat32;
    case APT_F64: return ncclFloat64;
    case APT_I32: return ncclInt32;
    case APT_I64: return ncclInt64;
    case APT_U8: return ncclUint8;
    case APT_BF16: return ncclBfloat16;
    }
    apt_fatal(__FILE__, __LINE__, "bad dtype %d", (int)dt);
}

static ncclRedOp_t nccl_op(AptRedOp op) { return op == APT_MAX ? ncclMax : op == APT_MIN ? ncclMin : ncclSum; }

static NcclImpl *impl(AptComm *c) { return (NcclImpl *)c->impl; }

// comm.h poll_error: NCCL's asynchronous error (a peer's connection failed, a network error, a remote
// abort) with NCCL's own text. ncclInProgress is a non-blocking communicator still initialising: no error.
static int nccl_poll_error(AptComm *c, char *why, size_t cap) {
    ncclResult_t async = ncclSuccess, r = ncclCommGetAsyncError(impl(c)->nccl, &async);
    if (r != ncclSuccess) async = r;
    if (async == ncclSuccess || async == ncclInProgress) return 0;
    const char *last = ncclGetLastError(impl(c)->nccl);
    snprintf(why, cap, "NCCL error on rank %d: %s%s%s", c->rank, ncclGetErrorString(async),
             last && last[0] ? ": " : "", last ? last : "");
    return 1;
}

// Surface asynchronous NCCL failures instead of hanging forever: a communication failure (status 5, as
// a lost rank), through the abort hook (ncclCommAbort of every NCCL communicator, then MPI_Abort).
static void check_async(AptComm *c) {
    char why[1024];
    if (nccl_poll_error(c, why, sizeof why)) apt_exit(APT_EXIT_LOST, "%s", why);
}

static void nccl_allreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    NCCL_CHECK(ncclAllReduce(buf, buf, count, nccl_type(dt), nccl_op(op), impl(c)->nccl, impl(c)->compute));
}

static void nccl_allgather(AptComm *c, const void *send, void *recv, size_t n, AptDType dt) {
    NCCL_CHECK(ncclAllGather(send, recv, n, nccl_type(dt), impl(c)->nccl, impl(c)->compute));
}

static void nccl_reduce_scatter(AptComm *c, const void *send, void *recv, size_t n, AptDType dt, AptRedOp op) {
    NCCL_CHECK(ncclReduceScatter(send, recv, n, nccl_type(dt), nccl_op(op), impl(c)->nccl, impl(c)->compute));
}

void apt_comm_test_spin(void *stream, long long cycles); // comm_test_spin.cu

// The test hook's all-reduce: sum of premul * x over ranks (also at W = 1, where NCCL runs its one-rank
// kernel), after a ~1 ms spin on the communication stream. Host-immediate scalar: the op may be destroyed
// once ncclAllReduce has returned.
static void premul_allreduce(NcclImpl *m, void *buf, size_t count, AptDType dt) {
    APT_CHECK(dt == APT_F32 || dt == APT_F64, "APT_TEST_BUCKET_PREMUL: dtype %s", apt_dtype_name(dt));
    float f32 = (float)m->premul;
    double f64 = m->premul;
    ncclRedOp_t op;
    NCCL_CHECK(ncclRedOpCreatePreMulSum(&op, dt == APT_F32 ? (void *)&f32 : (void *)&f64, nccl_type(dt),
                                        ncclScalarHostImmediate, m->nccl));
    apt_comm_test_spin(m->comm_stream, 2000000); // ~1 ms at 2 GHz
    NCCL_CHECK(ncclAllReduce(buf, buf, count, nccl_type(dt), op, m->nccl, m->comm_stream));
    NCCL_CHECK(ncclRedOpDestroy(op, m->nccl));
}

static AptCommReq nccl_iallreduce(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op) {
    NcclImpl *m = impl(c);
    NcclReq *r = &m->req[m->next_req];
    APT_CHECK(!r->busy, "nccl: more than %d all-reduces in flight (wait for them)", APT_NCCL_MAX_INFLIGHT);
    r->busy = 1;
    m->next_req = (m->next_req + 1) % APT_NCCL_MAX_INFLIGHT;
    // The bucket's gradients are final at this point of the compute stream.
    CUDART_CHECK(cudaEventRecord(m->ready, m->compute));
    CUDART_CHECK(cudaStreamWaitEvent(m->comm_stream, m->ready, 0));
    if (m->premul != 1.0 && op == APT_SUM)
        premul_allreduce(m, buf, count, dt);
    else
        NCCL_CHECK(ncclAllReduce(buf, buf, count, nccl_type(dt), nccl_op(op), m->nccl, m->comm_stream));
    CUDART_CHECK(cudaEventRecord(r->done, m->comm_stream));
    AptCommReq req = {r};
    return req;
}

static void nccl_wait(AptComm *c, AptCommReq req) {
    NcclReq *r = req.impl;
    if (!r) return;
    CUDART_CHECK(cudaStreamWaitEvent(impl(c)->compute, r->done, 0)); // device-side dependency, no host sync
    r->busy = 0; // the event may be re-recorded: the wait above already captured this recording
    check_async(c);
}

static void nccl_bcast(AptComm *c, void *buf, size_t count, AptDType dt, int root) {
    NCCL_CHECK(ncclBroadcast(buf, buf, count, nccl_type(dt), root, impl(c)->nccl, impl(c)->compute));
}

static double timeout_s(void) {
    const char *e = getenv("APT_NCCL_TIMEOUT_S");
    double t = e ? atof(e) : 0;
    return t > 0 ? t : APT_NCCL_TIMEOUT_S_DEFAULT;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Wait until both streams have passed the events recorded on them, without a blocking synchronisation:
// cudaStreamSynchronize would hang forever behind an NCCL kernel waiting for a dead peer. Poll instead,
// and between polls ask NCCL for an asynchronous error (set when a peer's connection fails) and watch the
// clock; either is fatal, and apt_fatal's hook aborts the communicator (releasing its kernels) and MPI.
static void drain(AptComm *c, const char *what) {
    NcclImpl *m = impl(c);
    CUDART_CHECK(cudaEventRecord(m->drained[0], m->compute));
    CUDART_CHECK(cudaEventRecord(m->drained[1], m->comm_stream));
    const double t0 = now_s(), limit = timeout_s();
    for (int i = 0; i < 2; i++) {
        for (;;) {
            cudaError_t q = cudaEventQuery(m->drained[i]);
            if (q == cudaSuccess) break;
            if (q != cudaErrorNotReady) CUDART_CHECK(q); // a kernel fault: fatal with its message
            check_async(c);
            if (now_s() - t0 > limit)
                apt_fatal(__FILE__, __LINE__, "nccl %s: rank %d waited %.0f s for the device (APT_NCCL_TIMEOUT_S); "
                          "a peer has probably died", what, c->rank, limit);
            struct timespec nap = {0, 100000}; // 0.1 ms: quick to notice, negligible CPU
            nanosleep(&nap, NULL);
        }
    }
    check_async(c);
}

// This rank's device work issued so far is complete (both streams), then the host barrier across ranks.
static void nccl_barrier(AptComm *c) {
    drain(c, "barrier");
    impl(c)->host->barrier(impl(c)->host);
}

static void device_abort(void *arg) {
    NcclImpl *m = arg;
    ncclCommAbort(m->nccl); // releases kernels blocked on peers; the result does not matter any more
}

static void nccl_abort(AptComm *c, int code) {
    apt_comm_set_device_abort(NULL, impl(c));
    ncclCommAbort(impl(c)->nccl);
    impl(c)->host->abort(impl(c)->host, code);
    exit(code);
}

static void nccl_destroy(AptComm *c) {
    NcclImpl *m = impl(c);
    drain(c, "destroy");
    apt_comm_set_device_abort(NULL, m);
    ncclCommDestroy(m->nccl);
    for (int i = 0; i < APT_NCCL_MAX_INFLIGHT; i++) cudaEventDestroy(m->req[i].done);
    cudaStreamDestroy(m->comm_stream);
    cudaEventDestroy(m->ready);
    cudaEventDestroy(m->drained[0]);
    cudaEventDestroy(m->drained[1]);
    free(m);
    free(c);
}

int apt_comm_nccl_select_device(const AptComm *host) {
    int ndev = apt_cuda_device_count();
    if (ndev == 0) apt_exit(APT_EXIT_USER, "dist.backend nccl: no CUDA device visible on rank %d", host->rank);
    // Device = local rank when every local rank sees all the node's GPUs; when the launcher binds one GPU
    // per task (srun --gpus-per-task=1, CUDA_VISIBLE_DEVICES per rank) each rank sees exactly one: use it.
    int dev = host->local_rank;
    if (ndev == 1) dev = 0;
    else if (host->local_rank >= ndev)
        apt_exit(APT_EXIT_USER, "rank %d: local rank %d but only %d CUDA devices visible on this node", host->rank,
                 host->local_rank, ndev);
    CUDART_CHECK(cudaSetDevice(dev));
    return dev;
}

AptComm *apt_comm_nccl_create(AptComm *host, cudaStream_t stream) {
    // The device was chosen by apt_comm_nccl_select_device before the caller created `stream` (and its
    // backend, buffers, handles). Selecting it here would be too late: a stream belongs to the device
    // that was current when it was created. Check both, with the fix in the message.
    int dev = -1, sdev = -1, ndev = apt_cuda_device_count();
    if (ndev == 0) apt_exit(APT_EXIT_USER, "dist.backend nccl: no CUDA device visible on rank %d", host->rank);
    const int want = ndev == 1 ? 0 : host->local_rank;
    CUDART_CHECK(cudaGetDevice(&dev));
    APT_CHECK(dev == want, "nccl: current device %d, expected %d (local rank %d): call apt_comm_nccl_select_device "
              "before creating streams, buffers or the backend", dev, want, host->local_rank);
    CUDART_CHECK(cudaStreamGetDevice(stream, &sdev));
    APT_CHECK(sdev == dev, "nccl: the compute stream lives on device %d, not on the selected device %d", sdev, dev);
    ncclUniqueId id;
    if (host->rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    host->bcast(host, &id, sizeof id, APT_U8, 0); // the id is opaque bytes: count in uint8 elements
    NcclImpl *m = apt_calloc(1, sizeof *m);
    m->device = dev;
    m->host = host;
    m->premul = apt_comm_test_bucket_premul();
    m->compute = stream;
    int prio_low = 0, prio_high = 0; // numerically lower is higher priority
    CUDART_CHECK(cudaDeviceGetStreamPriorityRange(&prio_low, &prio_high));
    CUDART_CHECK(cudaStreamCreateWithPriority(&m->comm_stream, cudaStreamNonBlocking, prio_high));
    CUDART_CHECK(cudaEventCreateWithFlags(&m->ready, cudaEventDisableTiming));
    CUDART_CHECK(cudaEventCreateWithFlags(&m->drained[0], cudaEventDisableTiming));
    CUDART_CHECK(cudaEventCreateWithFlags(&m->drained[1], cudaEventDisableTiming));
    for (int i = 0; i < APT_NCCL_MAX_INFLIGHT; i++)
        CUDART_CHECK(cudaEventCreateWithFlags(&m->req[i].done, cudaEventDisableTiming));
    // world 1: the id never leaves this process (host is comm_self, its bcast a no-op), so a 1-GPU host
    // runs NCCL without MPI.
    NCCL_CHECK(ncclCommInitRank(&m->nccl, host->world, id, host->rank));
    apt_comm_set_device_abort(device_abort, m); // apt_fatal anywhere -> ncclCommAbort -> MPI_Abort

    AptComm *c = apt_calloc(1, sizeof *c);
    c->rank = host->rank;
    c->world = host->world;
    c->local_rank = host->local_rank;
    c->local_world = host->local_world;
    c->name = "nccl";
    c->allreduce = nccl_allreduce;
    c->allgather = nccl_allgather;
    c->reduce_scatter = nccl_reduce_scatter;
    c->iallreduce = nccl_iallreduce;
    c->wait = nccl_wait;
    c->bcast = nccl_bcast;
    c->barrier = nccl_barrier;
    c->abort = nccl_abort;
    c->poll_error = nccl_poll_error;
    c->destroy = nccl_destroy;
    c->host = host;
    c->impl = m;
    return c;
}
