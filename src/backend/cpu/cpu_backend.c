// cpu_backend.c — fill the CPU op table; host memory.
#include "cpu_conv_dnnl.h"
#include "cpu_ops.h"
#include "cpu_transformer.h"

#include "core/check.h"

#include <stdlib.h>
#include <string.h>

static void *cpu_alloc(AptBackend *be, size_t bytes) {
    (void)be;
    return apt_aligned_alloc(bytes ? bytes : 64);
}
static void cpu_free(AptBackend *be, void *p) {
    (void)be;
    free(p);
}
static void cpu_copy(AptBackend *be, void *dst, const void *src, size_t bytes, AptCopyDir dir) {
    (void)be, (void)dir; // host memory only: every direction is a memcpy
    if (dst != src && bytes) memcpy(dst, src, bytes);
}
static void cpu_sync(AptBackend *be) {
    (void)be;
}

static void cpu_destroy(AptBackend *be) {
    AptCpuImpl *impl = be->impl;
#ifdef APT_HAVE_DNNL
    apt_dnnl_destroy(impl->dnnl);
#endif
    free(impl->ws);
    free(impl);
    free(be);
}

AptBackend *apt_backend_cpu_create(void) {
    AptBackend *be = apt_calloc(1, sizeof *be);
    AptCpuImpl *impl = apt_calloc(1, sizeof *impl);
    be->name = "cpu";
    be->impl = impl;
#ifdef APT_HAVE_DNNL
    impl->dnnl = apt_dnnl_create();
    impl->conv_route = APT_CONV_DNNL_BLOCKED; // fastest on every shape family measured (RESULTS.md)
#else
    impl->conv_route = APT_CONV_IM2COL;
#endif
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->copy = cpu_copy;
    be->sync = cpu_sync;
    be->gemm = apt_cpu_gemm;
    be->conv2d_prepare = apt_cpu_conv2d_prepare;
    be->conv2d_release = apt_cpu_conv2d_release;
    be->conv2d_forward = apt_cpu_conv2d_forward;
    be->conv2d_backward_data = apt_cpu_conv2d_backward_data;
    be->conv2d_backward_weights = apt_cpu_conv2d_backward_weights;
    be->bn_forward = apt_cpu_bn_forward;
    be->bn_backward_affine = apt_cpu_bn_backward_affine;
    be->bn_stats = apt_cpu_bn_stats;
    be->bn_finalize = apt_cpu_bn_finalize;
    be->bn_backward_stats = apt_cpu_bn_backward_stats;
    be->bn_backward_data = apt_cpu_bn_backward_data;
    be->relu_forward = apt_cpu_relu_forward;
    be->relu_backward = apt_cpu_relu_backward;
    be->maxpool_forward = apt_cpu_maxpool_forward;
    be->maxpool_backward = apt_cpu_maxpool_backward;
    be->avgpool_forward = apt_cpu_avgpool_forward;
    be->avgpool_backward = apt_cpu_avgpool_backward;
    be->gap_forward = apt_cpu_gap_forward;
    be->gap_backward = apt_cpu_gap_backward;
    be->linear_forward = apt_cpu_linear_forward;
    be->linear_backward = apt_cpu_linear_backward;
    be->l2norm_forward = apt_cpu_l2norm_forward;
    be->l2norm_backward = apt_cpu_l2norm_backward;
    be->add = apt_cpu_add;
    be->axpy = apt_cpu_axpy;
    be->scale = apt_cpu_scale;
    be->fill = apt_cpu_fill;
    be->destroy = cpu_destroy;
    apt_cpu_transformer_register(be);
    return be;
}
