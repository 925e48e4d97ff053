// comm.h — the communicator interface (DESIGN §2). Counts are ELEMENTS of a dtype, never bytes.
//
// Implementations: "self" (one process, no MPI calls), "mpi" (host memory), "nccl" (device memory),
// "staged" (device memory over a host communicator, through host scratch). All collectives are blocking unless named i*; buffers for allgather/reduce_scatter are
// laid out in rank order, so with contiguous rank slices the global order is preserved.
#pragma once
#include "../src/core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { APT_SUM = 0, APT_MAX, APT_MIN } AptRedOp;
typedef struct { void *impl; } AptCommReq;

typedef struct AptComm AptComm;
struct AptComm {
    int rank, world;           // in MPI_COMM_WORLD
    int local_rank, local_world; // within this node (device index on GPU nodes)
    const char *name;          // "self" | "mpi" | "nccl" | "staged"
    void (*allreduce)(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op);
    // send: count_per_rank elements; recv: world * count_per_rank elements in rank order.
    void (*allgather)(AptComm *c, const void *send, void *recv, size_t count_per_rank, AptDType dt);
    // send: world * count_per_rank elements; recv: this rank's count_per_rank-element block of the sum.
    void (*reduce_scatter)(AptComm *c, const void *send, void *recv, size_t count_per_rank, AptDType dt,
                           AptRedOp op);
    AptCommReq (*iallreduce)(AptComm *c, void *buf, size_t count, AptDType dt, AptRedOp op);
    void (*wait)(AptComm *c, AptCommReq req);
    void (*bcast)(AptComm *c, void *buf, size_t count, AptDType dt, int root);
    void (*barrier)(AptComm *c);
    void (*abort)(AptComm *c, int code); // does not return
    // Optional (NULL: errors surface in the collectives themselves: self, mpi, staged). Non-blocking:
    // 1 and one line of the library's own error text in `why` when the communicator has failed
    // asynchronously (nccl: ncclCommGetAsyncError, ncclGetLastError), else 0. For host waits that poll.
    int (*poll_error)(AptComm *c, char *why, size_t cap);
    void (*destroy)(AptComm *c);
    AptComm *host;             // communicator for host-memory buffers (itself for self/mpi; MPI under nccl)
    void *impl;
};

// Bootstrap. apt_comm_init_mpi calls MPI_Init_thread (works as a singleton without mpirun), installs
// MPI_ERRORS_RETURN, finds the node-local rank and registers the abort hook so apt_fatal anywhere
// takes every rank down. apt_comm_create_self never touches MPI (unit tests, tools).
AptComm *apt_comm_init_mpi(int *argc, char ***argv);
AptComm *apt_comm_create_self(void);
// Whether a launcher started this process (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK, PMI_SIZE or
// SLURM_PROCID set). Without one, MPI_Init falls back to singleton start-up, which on a bare host (no
// ssh/rsh for Open MPI's launcher agent) fails.
int apt_comm_launched(void);
// For single-process tools and GPU checks: apt_comm_init_mpi under a launcher, apt_comm_create_self
// (no MPI call at all) otherwise.
AptComm *apt_comm_init_auto(int *argc, char ***argv);
// Registers fn(arg) to run first in the abort hook (before MPI_Abort): comm_nccl.c's ncclCommAbort; up
// to 4 registrations, each run once. Installs the hook if no MPI bootstrap did. fn = NULL unregisters
// arg's registration (arg = NULL: all of them).
void apt_comm_set_device_abort(void (*fn)(void *), void *arg);
void apt_comm_finalize(AptComm *c); // destroys c; MPI_Finalize when MPI was initialised

// Buffers in memory the host communicator cannot read (a GPU's with non-CUDA-aware MPI, the guard test
// backend's): every collective stages through host scratch with `copy` (dir: APT_STAGE_*; blocking, the
// caller's backend copy). scratch_bytes: the most scratch ever in use at once — the non-blocking
// all-reduces in flight plus one blocking collective's send and receive buffers; reserved here, a
// collective needing more is a fatal error. `host` is kept (not owned) and is c->host. World 1: gathers
// and scatters are one copy (APT_STAGE_D2D), all-reduces nothing, no scratch.
enum { APT_STAGE_D2H = 0, APT_STAGE_H2D, APT_STAGE_D2D };
typedef void (*AptCommCopyFn)(void *ctx, void *dst, const void *src, size_t bytes, int dir);
AptComm *apt_comm_staged_create(AptComm *host, AptCommCopyFn copy, void *ctx, size_t scratch_bytes);
void apt_comm_staged_reserve(AptComm *c, size_t scratch_bytes); // set-up time: grow the scratch

// The NCCL communicator for the CUDA backend `be` (its compute stream), MPI `host` for the bootstrap and
// host scalars (dist/comm_nccl.h). NULL with *why set when aptrain was built without CUDA/NCCL.
struct AptBackend;
AptComm *apt_comm_nccl_open(AptComm *host, struct AptBackend *be, const char **why);

// Test-only collective log (dist/comm_record.c): with APT_COMM_RECORD=DIR set, wraps `inner` in a
// communicator that appends one line per call (role, implementation, op, count, dtype, reduction, root)
// to DIR/comm.<rank>.log and forwards it; without it, returns inner unchanged. owns: destroying the
// wrapper destroys inner. Wrapping a wrapper gives a second role over the same inner (never owning it).
// apt_comm_record_end destroys c if it is such a wrapper, else does nothing (the caller's host comm).
AptComm *apt_comm_record_wrap(AptComm *inner, const char *role, int owns);
void apt_comm_record_end(AptComm *c);
AptComm *apt_comm_record_inner(AptComm *c); // the wrapped communicator (c itself if not a wrapper)
// Test-only: APT_TEST_BUCKET_PREMUL=F (else 1) multiplies the result of every non-blocking SUM all-reduce
// (the gradient buckets) by F: nccl with ncclRedOpCreatePreMulSum after a spin kernel on its
// communication stream, staged on its host scratch (at W = 1 too). F = 2 is exact in floating point, so a
// GPU test can compare both paths bitwise while the all-reduce still changes the data at W = 1.
double apt_comm_test_bucket_premul(void);

// Host scalars always go through the host communicator.
double apt_comm_sum_host(AptComm *c, double v);
double apt_comm_max_host(AptComm *c, double v);

#ifdef __cplusplus
}
#endif
