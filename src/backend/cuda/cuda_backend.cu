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
    CUDA_CHECK(cudaStreamSynchronize(apt_cuda_impl(be)->stream)); // set-up/tear-down only
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

static void cuda_sync(AptBackend *be) { CUDA_CHECK(cudaStreamSynchronize(apt_cuda_impl(be)->stream)); }

static void cuda_destroy(AptBackend *be) {
    AptCudaImpl *m = apt_cuda_impl(be);
    cudaStreamSynchronize(m->stream);
    cudaFree(m->ws);
    cudaFree(m->red);
    cublasDestroy(m->cublas);
    cudnnDestroy(m->cudnn);
    cudaStreamDestroy(m->stream);
    free(m);
    free(be);
}

extern "C" void *apt_backend_cuda_stream(AptBackend *be) { return (void *)apt_cuda_impl(be)->stream; }
extern "C" void apt_backend_cuda_set_precision(AptBackend *be, int bf16) { apt_cuda_impl(be)->bf16 = bf16 ? 1 : 0; }

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
    CUDA_CHECK(cudaMalloc((void **)&m->red, 2 * (size_t)APT_CUDA_RED_CMAX * APT_CUDA_RED_CHUNKS * sizeof(double)));

    AptBackend *be = (AptBackend *)apt_calloc(1, sizeof *be);
    be->name = "cuda";
    be->impl = m;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->copy = cuda_copy;
    be->sync = cuda_sync;
    be->gemm = apt_cuda_gemm;
    be->conv2d_prepare = apt_cuda_conv2d_prepare;
    be->conv2d_release = apt_cuda_conv2d_release;
    be->conv2d_forward = apt_cuda_conv2d_forward;
    be->conv2d_backward_data = apt_cuda_conv2d_backward_data;
    be->conv2d_backward_weights = apt_cuda_conv2d_backward_weights;
    be->bn_forward = apt_cuda_bn_forward;
    be->bn_backward_affine = apt_cuda_bn_backward_affine;
    be->bn_stats = apt_cuda_bn_stats;
    be->bn_finalize = apt_cuda_bn_finalize;
    be->bn_backward_stats = apt_cuda_bn_backward_stats;
    be->bn_backward_data = apt_cuda_bn_backward_data;
    be->relu_forward = apt_cuda_relu_forward;
    be->relu_backward = apt_cuda_relu_backward;
    be->maxpool_forward = apt_cuda_maxpool_forward;
    be->maxpool_backward = apt_cuda_maxpool_backward;
    be->avgpool_forward = apt_cuda_avgpool_forward;
    be->avgpool_backward = apt_cuda_avgpool_backward;
    be->gap_forward = apt_cuda_gap_forward;
    be->gap_backward = apt_cuda_gap_backward;
    be->linear_forward = apt_cuda_linear_forward;
    be->linear_backward = apt_cuda_linear_backward;
    be->l2norm_forward = apt_cuda_l2norm_forward;
    be->l2norm_backward = apt_cuda_l2norm_backward;
    be->add = apt_cuda_add;
    be->axpy = apt_cuda_axpy;
    be->scale = apt_cuda_scale;
    be->fill = apt_cuda_fill;
    be->destroy = cuda_destroy;
    apt_cuda_transformer_register(be);
    if (why) *why = NULL;
    return be;
}
