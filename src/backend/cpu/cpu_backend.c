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
static void cpu_upload(AptBackend *be, void *dst, const void *src, size_t bytes) {
    cpu_copy(be, dst, src, bytes, APT_COPY_H2D);
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
    free(impl->tws);
    free(impl);
    free(be);
}

AptBackend *apt_backend_cpu_create(void) {
    AptBackend *be = apt_calloc(1, sizeof *be);
    AptCpuImpl *impl = apt_calloc(1, sizeof *impl);
    be->name = "cpu";
    be->act_layout = APT_NHWC; // bf16 chain in NHWC: oneDNN's bf16 convolutions need no reorders
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
    be->upload = cpu_upload;
    be->upload_wait = cpu_sync;
#define APT_CPU_OP_SET(name, params, args) be->name = apt_cpu_##name;
    APT_BACKEND_OPS(APT_CPU_OP_SET)
    APT_BACKEND_TIMER_OPS(APT_CPU_OP_SET)
#undef APT_CPU_OP_SET
    be->destroy = cpu_destroy;
    apt_cpu_transformer_register(be);
    return be;
}
