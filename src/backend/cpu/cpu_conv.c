// cpu_conv.c — convolution: oneDNN primitives when built with oneDNN (cpu_conv_dnnl.c, blocked layouts by
// default: 1.4–3× faster than the im2col route on ResNet-18 and small-CNN shapes, and faster than oneDNN on
// plain layouts, tests/bench/RESULTS.md), else im2col + one OpenBLAS
// SGEMM per chunk of images, the portable fallback implemented here. Bias and its gradient are added
// here for both routes (a per-channel pass, negligible next to the convolution).
//
// im2col route:
// A chunk of nb images is unfolded into col[C·R·S, nb·P·Q] (im2col, OpenMP over (image, channel)), so
// each pass is a single large GEMM whatever the spatial size: late ResNet stages have P·Q = 16, where a
// per-image GEMM would be too thin to use the cores. The GEMM output is [K, nb·P·Q]; a transpose writes
// NCHW. nb is chosen at prepare time so the workspace stays under APT_CONV_WS_FLOATS.
#include "cpu_conv_dnnl.h"
#include "cpu_ops.h"

#include "core/check.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#define APT_CONV_WS_FLOATS ((size_t)24 << 20) // 96 MiB cap on columns + transposed output

typedef struct {
    AptConvRoute route;
    int nb;     // im2col: images per GEMM
    void *dnnl; // AptDnnlConv
    void *dnnl_bf16; // AptDnnlConv of the bf16 ops (cpu_bf16.c), made by conv2d_prepare of a bf16 descriptor
} ConvPlan;

static size_t crs(const AptConvDesc *d) {
    return (size_t)d->C * d->R * d->S;
}
static size_t pq(const AptConvDesc *d) {
    return (size_t)d->P * d->Q;
}

void apt_cpu_conv2d_prepare_f32(AptBackend *be, AptConvDesc *d) {
    AptCpuImpl *impl = be->impl;
    ConvPlan *plan = apt_calloc(1, sizeof *plan);
    plan->route = impl->conv_route;
    d->plan = plan;
#ifdef APT_HAVE_DNNL
    if (plan->route != APT_CONV_IM2COL) {
        plan->dnnl = apt_dnnl_conv_create(impl->dnnl, d, plan->route == APT_CONV_DNNL_BLOCKED, false);
        return;
    }
#else
    plan->route = APT_CONV_IM2COL;
#endif
    size_t per_image = (crs(d) + (size_t)d->K) * pq(d);
    size_t nb = (impl->ws_cap ? impl->ws_cap : APT_CONV_WS_FLOATS) / per_image;
    if (nb < 1) nb = 1;
    if (nb > (size_t)d->N) nb = (size_t)d->N;
    plan->nb = (int)nb;
    size_t need = nb * per_image;
    if (need > impl->ws_floats) { // set-up time only
        free(impl->ws);
        impl->ws = apt_aligned_alloc(need * sizeof(float));
        impl->ws_floats = need;
    }
}

void apt_cpu_conv2d_release(AptBackend *be, AptConvDesc *d) {
    (void)be;
    ConvPlan *plan = d->plan;
#ifdef APT_HAVE_DNNL
    if (plan && plan->dnnl) apt_dnnl_conv_destroy(plan->dnnl);
    if (plan && plan->dnnl_bf16) apt_dnnl_conv_destroy(plan->dnnl_bf16);
#endif
    free(plan);
    d->plan = NULL;
}

void apt_cpu_conv_bf16_prepare(AptBackend *be, AptConvDesc *d) {
    ConvPlan *plan = d->plan;
    APT_CHECK(plan, "the bf16 plan before the fp32 one (conv2d_prepare)");
#ifdef APT_HAVE_DNNL
    if (!plan->dnnl_bf16) plan->dnnl_bf16 = apt_dnnl_conv_create_bf16(((AptCpuImpl *)be->impl)->dnnl, d);
#else
    (void)be;
    apt_fatal(__FILE__, __LINE__, "bf16 convolutions need oneDNN (this build has none): use precision fp32");
#endif
}

void *apt_cpu_conv_bf16_plan(AptBackend *be, const AptConvDesc *d) {
    (void)be;
    ConvPlan *plan = d->plan;
    APT_CHECK(plan && plan->dnnl_bf16, "bf16 convolution on a descriptor not prepared for bf16 (d->dtype)");
    return plan->dnnl_bf16;
}

// col[(c·R + r)·S + s][i·PQ + p·Q + q] = x[i, c, p·sh − ph + r, q·sw − pw + s] (0 outside)
static void im2col(const AptConvDesc *d, int nb, const float *x, float *col) {
    const int C = d->C, H = d->H, W = d->W, R = d->R, S = d->S, P = d->P, Q = d->Q;
    const size_t ld = (size_t)nb * P * Q;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < nb; i++)
        for (int c = 0; c < C; c++) {
            const float *xc = x + ((size_t)i * C + c) * H * W;
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++) {
                    float *row = col + ((size_t)(c * R + r) * S + s) * ld + (size_t)i * P * Q;
                    for (int p = 0; p < P; p++) {
                        int h = p * d->stride_h - d->pad_h + r;
                        float *out = row + (size_t)p * Q;
                        if (h < 0 || h >= H) {
                            memset(out, 0, (size_t)Q * sizeof(float));
                            continue;
                        }
                        const float *xr = xc + (size_t)h * W;
                        for (int q = 0; q < Q; q++) {
                            int w = q * d->stride_w - d->pad_w + s;
                            out[q] = (w >= 0 && w < W) ? xr[w] : 0.0f;
                        }
                    }
                }
        }
}

// dx[i, c, h, w] = Σ of the col entries that im2col copied from it. One thread owns each (i, c) plane,
// and the (r, s, p, q) order is fixed, so the sum order never changes.
static void col2im(const AptConvDesc *d, int nb, const float *col, float *dx) {
    const int C = d->C, H = d->H, W = d->W, R = d->R, S = d->S, P = d->P, Q = d->Q;
    const size_t ld = (size_t)nb * P * Q;
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < nb; i++)
        for (int c = 0; c < C; c++) {
            float *xc = dx + ((size_t)i * C + c) * H * W;
            memset(xc, 0, (size_t)H * W * sizeof(float));
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++) {
                    const float *row = col + ((size_t)(c * R + r) * S + s) * ld + (size_t)i * P * Q;
                    for (int p = 0; p < P; p++) {
                        int h = p * d->stride_h - d->pad_h + r;
                        if (h < 0 || h >= H) continue;
                        float *xr = xc + (size_t)h * W;
                        const float *in = row + (size_t)p * Q;
                        for (int q = 0; q < Q; q++) {
                            int w = q * d->stride_w - d->pad_w + s;
                            if (w >= 0 && w < W) xr[w] += in[q];
                        }
                    }
                }
        }
}

// [nb, K, PQ] <-> [K, nb·PQ]
static void nchw_to_knpq(int nb, int K, size_t PQ, const float *src, float *dst) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < K; k++)
            memcpy(dst + (size_t)k * nb * PQ + (size_t)i * PQ, src + ((size_t)i * K + k) * PQ,
                   PQ * sizeof(float));
}
static void knpq_to_nchw(int nb, int K, size_t PQ, const float *src, const float *bias, float *dst) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < K; k++) {
            const float *s = src + (size_t)k * nb * PQ + (size_t)i * PQ;
            float *o = dst + ((size_t)i * K + k) * PQ;
            float b = bias ? bias[k] : 0.0f;
            for (size_t j = 0; j < PQ; j++)
                o[j] = s[j] + b;
        }
}

static const ConvPlan *plan_of(const AptConvDesc *d) {
    APT_CHECK(d->plan, "conv2d used before conv2d_prepare");
    return d->plan;
}
static int chunk(const AptConvDesc *d) {
    return plan_of(d)->nb;
}

static void add_bias(int n, int K, size_t PQ, const float *bias, float *y) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            float *o = y + ((size_t)i * K + k) * PQ;
            for (size_t j = 0; j < PQ; j++)
                o[j] += bias[k];
        }
}

void apt_cpu_conv2d_forward_f32(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *w,
                                const float *bias, float *y) {
    AptCpuImpl *impl = be->impl;
    APT_CHECK(n >= 1 && n <= d->N, "conv2d: batch %d outside [1, %d]", n, d->N);
    const size_t CRS = crs(d), PQ = pq(d), K = (size_t)d->K;
#ifdef APT_HAVE_DNNL
    if (plan_of(d)->dnnl) {
        apt_dnnl_conv_forward(plan_of(d)->dnnl, n, x, w, NULL, y);
        if (bias) add_bias(n, (int)K, PQ, bias, y);
        return;
    }
#endif
    const int nbmax = chunk(d);
    for (int i0 = 0; i0 < n; i0 += nbmax) {
        int nb = n - i0 < nbmax ? n - i0 : nbmax;
        float *col = impl->ws, *yt = impl->ws + CRS * nb * PQ;
        im2col(d, nb, x + (size_t)i0 * d->C * d->H * d->W, col);
        // yt[K, nb·PQ] = w[K, CRS] · col[CRS, nb·PQ]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)(nb * PQ), (int)CRS, 1.0f, w,
                    (int)CRS, col, (int)(nb * PQ), 0.0f, yt, (int)(nb * PQ));
        knpq_to_nchw(nb, (int)K, PQ, yt, bias, y + (size_t)i0 * K * PQ);
    }
}

void apt_cpu_conv2d_backward_data_f32(AptBackend *be, const AptConvDesc *d, int n, const float *dy,
                                      const float *w, float *dx) {
    AptCpuImpl *impl = be->impl;
    if (!dx) return;
    APT_CHECK(n >= 1 && n <= d->N, "conv2d: batch %d outside [1, %d]", n, d->N);
#ifdef APT_HAVE_DNNL
    if (plan_of(d)->dnnl) {
        apt_dnnl_conv_backward_data(plan_of(d)->dnnl, n, dy, w, dx);
        return;
    }
#endif
    const int nbmax = chunk(d);
    const size_t CRS = crs(d), PQ = pq(d), K = (size_t)d->K;
    for (int i0 = 0; i0 < n; i0 += nbmax) {
        int nb = n - i0 < nbmax ? n - i0 : nbmax;
        float *col = impl->ws, *dyt = impl->ws + CRS * nb * PQ;
        nchw_to_knpq(nb, (int)K, PQ, dy + (size_t)i0 * K * PQ, dyt);
        // col[CRS, nb·PQ] = wᵀ[CRS, K] · dyt[K, nb·PQ]
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)CRS, (int)(nb * PQ), (int)K, 1.0f, w,
                    (int)CRS, dyt, (int)(nb * PQ), 0.0f, col, (int)(nb * PQ));
        col2im(d, nb, col, dx + (size_t)i0 * d->C * d->H * d->W);
    }
}

void apt_cpu_conv2d_backward_weights_f32(AptBackend *be, const AptConvDesc *d, int n, const float *x,
                                         const float *dy, float *dw, float *db) {
    AptCpuImpl *impl = be->impl;
    APT_CHECK(n >= 1 && n <= d->N, "conv2d: batch %d outside [1, %d]", n, d->N);
    const size_t CRS = crs(d), PQ = pq(d), K = (size_t)d->K;
#ifdef APT_HAVE_DNNL
    if (dw && plan_of(d)->dnnl) {
        apt_dnnl_conv_backward_weights(plan_of(d)->dnnl, n, x, dy, dw, NULL);
        dw = NULL;
    }
#endif
    if (dw) {
        const int nbmax = chunk(d);
        for (int i0 = 0; i0 < n; i0 += nbmax) {
            int nb = n - i0 < nbmax ? n - i0 : nbmax;
            float *col = impl->ws, *dyt = impl->ws + CRS * nb * PQ;
            im2col(d, nb, x + (size_t)i0 * d->C * d->H * d->W, col);
            nchw_to_knpq(nb, (int)K, PQ, dy + (size_t)i0 * K * PQ, dyt);
            // dw[K, CRS] += dyt[K, nb·PQ] · colᵀ[nb·PQ, CRS]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)K, (int)CRS, (int)(nb * PQ), 1.0f, dyt,
                        (int)(nb * PQ), col, (int)(nb * PQ), 1.0f, dw, (int)CRS);
        }
    }
    if (db) {
#pragma omp parallel for schedule(static)
        for (int k = 0; k < (int)K; k++) {
            double s = 0;
            for (int i = 0; i < n; i++) {
                const float *p = dy + ((size_t)i * K + k) * PQ;
                for (size_t j = 0; j < PQ; j++)
                    s += p[j];
            }
            db[k] += (float)s;
        }
    }
}
