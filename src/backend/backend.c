// backend.c — choose an op table by name; the only file that knows which backends exist.
#include "backend.h"

#include "core/check.h"
#include "core/log.h"

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

AptBackend *apt_backend_create(const char *name) {
    if (!strcmp(name, "cpu")) return apt_backend_cpu_create();
    const char *why = NULL;
    if (!strcmp(name, "cuda")) {
        AptBackend *be = apt_backend_cuda_create(&why);
        if (!be) apt_user_error("device: cuda requested but unavailable: %s", why ? why : "unknown reason");
        return be;
    }
    if (!strcmp(name, "auto")) {
        // The parameter store can live in backend memory (src/nn/params.c) and the model's forward and
        // backward run through the op table, but the training step still touches parameters on the host:
        // gradient clipping (src/optim/clip.c) and the optimizer update (src/optim/optim.c) read and write
        // ps->g / ps->w directly, the gradient all-reduce is host MPI, and the loss runs on host E. Until
        // the step keeps them on the device, `auto` stays on the CPU even where a GPU is visible;
        // `device: cuda` still creates the CUDA table (tests and benchmarks use it directly).
        apt_debug("device auto: using cpu (the training step still updates parameters on the host)");
        return apt_backend_cpu_create();
    }
    apt_user_error("device: unknown backend '%s' (expected cpu, cuda or auto)", name);
}

void apt_backend_destroy(AptBackend *be) {
    if (be) be->destroy(be);
}
