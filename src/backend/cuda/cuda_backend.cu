// cuda_backend.cu — the CUDA op table: device selection check, stream, cuBLAS and cuDNN handles,
// reduction scratch, and the table itself (the ops live in the cuda_*.cu twins of src/backend/cpu/).
#include "cuda_backend.h"

#include <stdlib.h>
#include <string.h>

#include "cuda_ops.cuh"
#include "cuda_transformer.cuh"

static void *cuda_alloc(AptBackend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 256)); // 256-byte aligned
    return p;
}

static void cuda_free(AptBackend *be, void *p) {
    // Set-up/tear-down only. The copy stream too: an upload issued ahead (the next batch, prefetched
    // during the last step before a pre-emption) may still be writing the buffer.
    CUDA_CHECK(cudaStreamSynchronize(apt_cuda_impl(be)->stream));
    CUDA_CHECK(cudaStreamSynchronize(apt_cuda_impl(be)->copy_stream));
    if (p) CUDA_CHECK(cudaFree(p));
}

// Host<->device copies wait for completion (the host buffer may be reused at once by the caller);
// device-to-device copies stay asynchronous on the stream. Pinned staging for the loader is separate.
static void cuda_copy(AptBackend *be, void *dst, const void *src, size_t bytes, AptCopyDir dir) {
    AptCudaImpl *m = apt_cuda_impl(be);
    if (!bytes || dst == src) return;
    cudaMemcpyKind kind = dir == APT_COPY_H2D   ? cudaMemcpyHostToDevice
                          : dir == APT_COPY_D2H ? cudaMemcpyDeviceToHost
                          : dir == APT_COPY_D2D ? cudaMemcpyDeviceToDevice
                                                : cudaMemcpyHostToHost;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, m->stream));
    if (dir != APT_COPY_D2D) CUDA_CHECK(cudaStreamSynchronize(m->stream));
}

// The batch upload: the host buffer goes to a pinned slot (memcpy), then to the device on the copy
// stream, without waiting for the compute stream: the caller guarantees no enqueued op still uses dst
// (the trainer alternates two input buffers and issues batch k + 1's upload while step k's kernels run),
// so the copy overlaps that compute. Two pinned slots: the host waits only for the upload before the
// previous one. The source may be reused on return (it has been copied to the slot).
static void cuda_upload(AptBackend *be, void *dst, const void *src, size_t bytes) {
    AptCudaImpl *m = apt_cuda_impl(be);
    if (!bytes) return;
    const int k = m->up_next;
    CUDA_CHECK(cudaEventSynchronize(m->up_done[k])); // slot k's previous copy has left the pinned buffer
    if (m->pinned_bytes[k] < bytes) { // first batch (or a larger one): set-up in practice
        if (m->pinned[k]) CUDA_CHECK(cudaFreeHost(m->pinned[k]));
        CUDA_CHECK(cudaMallocHost(&m->pinned[k], bytes));
        m->pinned_bytes[k] = bytes;
    }
    memcpy(m->pinned[k], src, bytes);
    CUDA_CHECK(cudaMemcpyAsync(dst, m->pinned[k], bytes, cudaMemcpyHostToDevice, m->copy_stream));
    CUDA_CHECK(cudaEventRecord(m->up_done[k], m->copy_stream));
    m->up_last = k;
    m->up_next = 1 - k;
}

static void cuda_upload_wait(AptBackend *be) {
    AptCudaImpl *m = apt_cuda_impl(be);
    if (m->up_last >= 0) CUDA_CHECK(cudaStreamWaitEvent(m->stream, m->up_done[m->up_last], 0));
}

static void cuda_sync(AptBackend *be) { CUDA_CHECK(cudaStreamSynchronize(apt_cuda_impl(be)->stream)); }

// The interruptible host wait (backend.h poll): the caller checks NCCL's asynchronous errors and the
// watchdog between queries, which a cudaStreamSynchronize behind an NCCL kernel waiting for a lost peer
// would never let it do.
static int cuda_poll(AptBackend *be, int start) {
    AptCudaImpl *m = apt_cuda_impl(be);
    if (start) CUDA_CHECK(cudaEventRecord(m->poll_mark, m->stream));
    cudaError_t q = cudaEventQuery(m->poll_mark);
    if (q == cudaSuccess) return 1;
    if (q != cudaErrorNotReady) CUDA_CHECK(q); // a kernel fault: fatal with its message
    return 0;
}

extern "C" int apt_backend_cuda_pci_bus_id(const AptBackend *be, char *out, int cap) {
    if (out && cap > 0) out[0] = 0;
    if (!be || strcmp(be->name, "cuda") || !out || cap < 13) return -1;
    AptBackend *base = apt_backend_base((AptBackend *)be); // the real table under a wrapper (profiler)
    CUDA_CHECK(cudaDeviceGetPCIBusId(out, cap, apt_cuda_impl(base)->device));
    return 0;
}

static void cuda_destroy(AptBackend *be) {
    AptCudaImpl *m = apt_cuda_impl(be);
    cudaStreamSynchronize(m->stream);
    cudaStreamSynchronize(m->copy_stream);
    cudaEventDestroy(m->poll_mark);
    for (int k = 0; k < 2; k++) {
        if (m->pinned[k]) cudaFreeHost(m->pinned[k]);
        cudaEventDestroy(m->up_done[k]);
    }
    cudaStreamDestroy(m->copy_stream);
    cudaFree(m->ws);
    cudaFree(m->red);
    cublasDestroy(m->cublas);
    cudnnDestroy(m->cudnn);
    cudaStreamDestroy(m->stream);
    free(m);
    free(be);
}

// Public entry points take any backend over a CUDA table (a profiling wrapper included): the state is
// the real backend's.
extern "C" void *apt_backend_cuda_stream(AptBackend *be) { return (void *)apt_cuda_impl(apt_backend_base(be))->stream; }
extern "C" void *apt_backend_device_stream(AptBackend *be) {
    AptBackend *base = apt_backend_base(be);
    return base && !strcmp(base->name, "cuda") ? apt_backend_cuda_stream(base) : NULL;
}
extern "C" void apt_backend_cuda_set_math(AptBackend *be, AptCudaMath math) {
    apt_cuda_impl(apt_backend_base(be))->tf32 = math == APT_CUDA_MATH_TF32;
}

// Device = node-local rank, selected before any other CUDA call of this process makes a context or a
// stream. One visible device (the launcher bound one GPU per task): use it.
extern "C" AptBackend *apt_backend_cuda_create_on(int local_rank, const char **why) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        if (why) *why = "no CUDA device";
        return NULL;
    }
    int dev = count == 1 ? 0 : local_rank;
    if (dev < 0 || dev >= count) {
        if (why) *why = "more ranks on this node than visible CUDA devices (run one rank per GPU)";
        return NULL;
    }
    CUDA_CHECK(cudaSetDevice(dev));
    return apt_backend_cuda_create(why);
}

extern "C" AptBackend *apt_backend_cuda_create(const char **why) {
    int count = 0; // cudaGetDeviceCount leaves it untouched on error (e.g. 35: no driver)
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        if (why) *why = "no CUDA device";
        return NULL;
    }
    AptCudaImpl *m = (AptCudaImpl *)apt_calloc(1, sizeof *m);
    CUDA_CHECK(cudaGetDevice(&m->device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&m->cublas));
    CUBLAS_CHECK(cublasSetStream(m->cublas, m->stream));
    CUBLAS_CHECK(cublasSetMathMode(m->cublas, CUBLAS_DEFAULT_MATH)); // fp32: TF32 stays off
    CUBLAS_CHECK(cublasSetAtomicsMode(m->cublas, CUBLAS_ATOMICS_NOT_ALLOWED));
    CUDNN_CHECK(cudnnCreate(&m->cudnn));
    CUDNN_CHECK(cudnnSetStream(m->cudnn, m->stream));
    CUDA_CHECK(cudaStreamCreateWithFlags(&m->copy_stream, cudaStreamNonBlocking));
    for (int k = 0; k < 2; k++) CUDA_CHECK(cudaEventCreateWithFlags(&m->up_done[k], cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&m->poll_mark, cudaEventDisableTiming));
    m->up_last = -1;
    CUDA_CHECK(cudaMalloc((void **)&m->red, 2 * (size_t)APT_CUDA_RED_CMAX * APT_CUDA_RED_CHUNKS * sizeof(double)));

    AptBackend *be = (AptBackend *)apt_calloc(1, sizeof *be);
    be->name = "cuda";
    be->act_layout = APT_NCHW; // bf16 chain in NCHW (cuda_bf16.cu: the cuDNN configuration checked on a GPU)
    be->impl = m;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->copy = cuda_copy;
    be->sync = cuda_sync;
    be->poll = cuda_poll;
    be->upload = cuda_upload;
    be->upload_wait = cuda_upload_wait;
#define APT_CUDA_OP_SET(name, params, args) be->name = apt_cuda_##name;
    APT_BACKEND_OPS(APT_CUDA_OP_SET)
    APT_BACKEND_TIMER_OPS(APT_CUDA_OP_SET)
#undef APT_CUDA_OP_SET
    be->destroy = cuda_destroy;
    apt_cuda_transformer_register(be);
    if (why) *why = NULL;
    return be;
}
