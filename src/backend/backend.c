// backend.c — choose an op table by name; the only file that knows which backends exist.
#include "backend.h"

#include "core/check.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

void apt_conv_desc_init(AptConvDesc *d, int N, int C, int H, int W, int K, int R, int S, int stride,
                        int pad) {
    memset(d, 0, sizeof *d);
    d->N = N, d->C = C, d->H = H, d->W = W, d->K = K, d->R = R, d->S = S;
    d->stride_h = d->stride_w = stride;
    d->pad_h = d->pad_w = pad;
    d->P = (H + 2 * pad - R) / stride + 1;
    d->Q = (W + 2 * pad - S) / stride + 1;
    APT_CHECK(N > 0 && C > 0 && K > 0 && stride > 0 && pad >= 0 && d->P > 0 && d->Q > 0,
              "bad conv shape N%d C%d H%d W%d K%d R%d S%d stride %d pad %d", N, C, H, W, K, R, S, stride,
              pad);
}

void apt_tensor_expect(const char *op, const char *arg, AptTensor t, AptDType dtype, AptLayout layout) {
    if (!t.p || (t.dtype == dtype && t.layout == layout)) return;
    apt_fatal(__FILE__, __LINE__, "%s: %s is %s %s, this form of the op needs %s %s", op, arg,
              apt_dtype_name(t.dtype), apt_layout_name(t.layout), apt_dtype_name(dtype),
              apt_layout_name(layout));
}

void apt_pool_desc_init(AptPoolDesc *d, int N, int C, int H, int W, int k, int stride, int pad) {
    memset(d, 0, sizeof *d);
    d->N = N, d->C = C, d->H = H, d->W = W;
    d->kh = d->kw = k;
    d->stride_h = d->stride_w = stride;
    d->pad_h = d->pad_w = pad;
    d->P = (H + 2 * pad - k) / stride + 1;
    d->Q = (W + 2 * pad - k) / stride + 1;
    APT_CHECK(N > 0 && C > 0 && k > 0 && stride > 0 && 2 * pad <= k && d->P > 0 && d->Q > 0,
              "bad pool shape N%d C%d H%d W%d k%d stride %d pad %d", N, C, H, W, k, stride, pad);
}

bool apt_backend_is_host(const AptBackend *be) {
    return be && !strcmp(be->name, "cpu");
}

// APT_GUARD_BACKEND=1: the CPU kernels over guarded memory (a test backend; README "Testing").
static AptBackend *cpu_or_guard(void) {
    const char *g = getenv("APT_GUARD_BACKEND");
    if (g && g[0] && strcmp(g, "0")) {
        apt_info("device: guard (CPU kernels; backend memory unreadable by host code, APT_GUARD_BACKEND)");
        return apt_backend_guard_create();
    }
    return apt_backend_cpu_create();
}

AptBackend *apt_backend_create(const char *name) {
    return apt_backend_create_on(name, 0);
}

AptBackend *apt_backend_create_on(const char *name, int local_rank) {
    if (!strcmp(name, "cpu")) return cpu_or_guard();
    const char *why = NULL;
    if (!strcmp(name, "cuda")) {
        AptBackend *be = apt_backend_cuda_create_on(local_rank, &why);
        if (!be) apt_user_error("device: cuda requested but unavailable: %s", why ? why : "unknown reason");
        return be;
    }
    if (!strcmp(name, "auto")) {
        AptBackend *be = apt_backend_cuda_create_on(local_rank, &why);
        if (be) {
            apt_info("device auto: using cuda (a GPU is visible)");
            return be;
        }
        apt_info("device auto: using cpu (%s)", why ? why : "no usable GPU");
        return cpu_or_guard();
    }
    apt_user_error("device: unknown backend '%s' (expected cpu, cuda or auto)", name);
}

void apt_backend_destroy(AptBackend *be) {
    if (be) be->destroy(be);
}
