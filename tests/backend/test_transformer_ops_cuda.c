// test_transformer_ops_cuda.c — the transformer ops of the CUDA table against the same ops of the CPU
// table (itself checked against float64 loops and finite differences in test_transformer_ops.c), on
// random inputs with odd sizes and at ViT-B/16 attention size (T = 197, 12 heads of 64), outputs poisoned
// with NaN beforehand so an unwritten element fails, accumulating outputs pre-filled with random values.
// Label gpu; skips (exit 77) without a usable CUDA device.
//
// Tolerance: |gpu - cpu| <= 1e-5 |cpu| + 1e-5 max|cpu|, the bound of test_backend_ops_cuda.c (fp32 sums
// in different orders; the largest here is a LayerNorm dgamma over R = 2·197·... rows, ~1e-6 relative
// with float64 accumulators on both sides). drop_path must match bitwise (same mask, one product).
// Determinism: LayerNorm backward and the embedding backward run twice and must agree bitwise.
// bf16 views (test_bf16_views): the ops with activation views run with bf16 views on both backends (the
// CPU's are checked against its fp32 ops in test_transformer_ops.c): bf16 outputs within one bf16 step
// (2^-8 relative: each side rounds its fp32 result once, and the fp32 results differ by ~1e-6), fp32
// outputs within the fp32 bound above.
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.cuh"
#include "harness.h"

static AptBackend *cpu, *gpu;
static uint64_t rng_state = 0x243f6a8885a308d3ull;

static float frand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static float *rnd(size_t n, float lo, float hi) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * 0.5f * (frand() + 1.0f);
    return v;
}
static void *dev_bufs[64];
static int n_dev_bufs;
static void *dev_alloc(size_t bytes) {
    if (n_dev_bufs == (int)(sizeof dev_bufs / sizeof dev_bufs[0])) {
        fprintf(stderr, "test_transformer_ops_cuda: too many device buffers in one case\n");
        exit(1);
    }
    return dev_bufs[n_dev_bufs++] = gpu->alloc(gpu, bytes);
}
static void release_dev(void) {
    while (n_dev_bufs > 0) gpu->free(gpu, dev_bufs[--n_dev_bufs]);
}
static float *up(const float *h, size_t n) {
    float *d = dev_alloc(n * 4);
    gpu->copy(gpu, d, h, n * 4, APT_COPY_H2D);
    return d;
}
static float *poisoned(size_t n) {
    float *d = dev_alloc(n * 4);
    CUDA_CHECK(cudaMemsetAsync(d, 0xff, n * 4, (cudaStream_t)apt_backend_cuda_stream(gpu)));
    return d;
}
static float *down(const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * 4);
    gpu->copy(gpu, h, d, n * 4, APT_COPY_D2H);
    return h;
}
static int cmp(const char *label, const float *d_got, const float *want, size_t n, double rtol) {
    float *got = down(d_got, n);
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    int ok = expect_close_f(got, want, n, rtol, rtol * (scale > 0 ? scale : 1.0) + 1e-30, label);
    free(got);
    return ok;
}
static int same_bits(const float *d_a, const float *d_b, size_t n) {
    float *a = down(d_a, n), *b = down(d_b, n);
    int eq = memcmp(a, b, n * 4) == 0;
    free(a), free(b);
    return eq;
}
#define RTOL 1e-5
#define F(p) apt_f32(p)

// Attention shapes: per sample, heads batched with strided views of a fused qkv row [T, 3D].
static void test_attention_gemms(int T, int H, int hd) {
    const int D = H * hd;
    size_t nqkv = (size_t)T * 3 * D, nS = (size_t)H * T * T, nO = (size_t)T * D;
    float *qkv = rnd(nqkv, -1, 1), *S = malloc(nS * 4), *O = malloc(nO * 4), *dO = rnd(nO, -1, 1);
    float *d_qkv = up(qkv, nqkv), *d_S = poisoned(nS), *d_O = poisoned(nO), *d_dO = up(dO, nO);
    float *d_dqkv = poisoned(nqkv), *dqkv = malloc(nqkv * 4);
    const float sc = 1.0f / sqrtf((float)hd);
    for (int pass = 0; pass < 2; pass++) {
        AptBackend *be = pass ? gpu : cpu;
        const float *q = pass ? d_qkv : qkv;
        float *s = pass ? d_S : S, *o = pass ? d_O : O, *dq = pass ? d_dqkv : dqkv;
        const float *go = pass ? d_dO : dO;
        be->gemm_batched(be, false, true, T, T, hd, sc, F(q), 3 * D, hd, F(q + D), 3 * D, hd, 0.0f, F(s), T,
                         (long long)T * T, H, NULL);
        be->softmax_forward(be, H * T, T, F(s), F(s));
        be->gemm_batched(be, false, false, T, hd, T, 1.0f, F(s), T, (long long)T * T, F(q + 2 * D), 3 * D, hd, 0.0f,
                         F(o), D, hd, H, NULL);
        be->gemm_batched(be, true, false, T, hd, T, 1.0f, F(s), T, (long long)T * T, F(go), D, hd, 0.0f,
                         F(dq + 2 * D), 3 * D, hd, H, NULL);
        be->gemm_batched(be, false, true, T, hd, T, sc, F(s), T, (long long)T * T, F(q + D), 3 * D, hd, 0.0f, F(dq),
                         3 * D, hd, H, NULL);
        be->gemm_batched(be, true, false, T, hd, T, sc, F(s), T, (long long)T * T, F(q), 3 * D, hd, 0.0f,
                         F(dq + D), 3 * D, hd, H, NULL);
    }
    char l[96];
    snprintf(l, sizeof l, "attention probabilities T%d H%d hd%d", T, H, hd);
    cmp(l, d_S, S, nS, RTOL);
    snprintf(l, sizeof l, "attention output T%d H%d hd%d", T, H, hd);
    cmp(l, d_O, O, nO, RTOL);
    snprintf(l, sizeof l, "attention dqkv (batched gemm, transposes) T%d", T);
    cmp(l, d_dqkv, dqkv, nqkv, RTOL);
    free(qkv), free(S), free(O), free(dO), free(dqkv);
    release_dev();
}

static void test_layernorm(int R, int D) {
    size_t n = (size_t)R * D;
    float *x = rnd(n, -2, 2), *g = rnd(D, 0.5f, 1.5f), *b = rnd(D, -0.5f, 0.5f), *dy = rnd(n, -1, 1);
    float *dg = rnd(D, -1, 1), *db = rnd(D, -1, 1);
    float *d_x = up(x, n), *d_g = up(g, D), *d_b = up(b, D), *d_dy = up(dy, n), *d_dg = up(dg, D), *d_db = up(db, D);
    float *d_dg2 = up(dg, D), *d_db2 = up(db, D), *d_dx2 = poisoned(n);
    float *y = malloc(n * 4), *mean = malloc(R * 4), *rstd = malloc(R * 4), *dx = malloc(n * 4);
    float *d_y = poisoned(n), *d_mean = poisoned(R), *d_rstd = poisoned(R), *d_dx = poisoned(n);
    cpu->layernorm_forward(cpu, R, D, F(x), g, b, 1e-6f, F(y), mean, rstd);
    cpu->layernorm_backward(cpu, R, D, F(x), dy, g, mean, rstd, dx, dg, db);
    gpu->layernorm_forward(gpu, R, D, F(d_x), d_g, d_b, 1e-6f, F(d_y), d_mean, d_rstd);
    gpu->layernorm_backward(gpu, R, D, F(d_x), d_dy, d_g, d_mean, d_rstd, d_dx, d_dg, d_db);
    gpu->layernorm_backward(gpu, R, D, F(d_x), d_dy, d_g, d_mean, d_rstd, d_dx2, d_dg2, d_db2);
    char l[80];
    snprintf(l, sizeof l, "layernorm forward R%d D%d", R, D);
    cmp(l, d_y, y, n, RTOL);
    cmp("layernorm mean", d_mean, mean, R, RTOL);
    cmp("layernorm rstd", d_rstd, rstd, R, RTOL);
    cmp("layernorm dx", d_dx, dx, n, RTOL);
    cmp("layernorm dgamma (+=)", d_dg, dg, D, RTOL);
    cmp("layernorm dbeta (+=)", d_db, db, D, RTOL);
    TEST_CHECK(same_bits(d_dx, d_dx2, n) && same_bits(d_dg, d_dg2, D) && same_bits(d_db, d_db2, D),
               "layernorm backward is not bitwise repeatable");
    free(x), free(g), free(b), free(dy), free(dg), free(db), free(y), free(mean), free(rstd), free(dx);
    release_dev();
}

static void test_gelu_softmax(size_t n, int R, int L) {
    float *x = rnd(n, -5, 5), *dy = rnd(n, -1, 1), *y = malloc(n * 4), *dx = malloc(n * 4);
    float *d_x = up(x, n), *d_dy = up(dy, n), *d_y = poisoned(n), *d_dx = poisoned(n);
    cpu->gelu_forward(cpu, n, F(x), F(y));
    cpu->gelu_backward(cpu, n, F(x), dy, dx);
    gpu->gelu_forward(gpu, n, F(d_x), F(d_y));
    gpu->gelu_backward(gpu, n, F(d_x), d_dy, d_dx);
    cmp("gelu forward", d_y, y, n, RTOL);
    cmp("gelu backward", d_dx, dx, n, RTOL);
    size_t m = (size_t)R * L;
    float *s = rnd(m, -8, 8), *ds = rnd(m, -1, 1), *p = malloc(m * 4), *dp = malloc(m * 4);
    float *d_s = up(s, m), *d_ds = up(ds, m), *d_p = poisoned(m), *d_dp = poisoned(m);
    cpu->softmax_forward(cpu, R, L, F(s), F(p));
    cpu->softmax_backward(cpu, R, L, F(p), ds, dp);
    gpu->softmax_forward(gpu, R, L, F(d_s), F(d_p));
    gpu->softmax_backward(gpu, R, L, F(d_p), d_ds, d_dp);
    char l[80];
    snprintf(l, sizeof l, "softmax forward R%d L%d", R, L);
    cmp(l, d_p, p, m, RTOL);
    snprintf(l, sizeof l, "softmax backward R%d L%d", R, L);
    cmp(l, d_dp, dp, m, RTOL);
    free(x), free(dy), free(y), free(dx), free(s), free(ds), free(p), free(dp);
    release_dev();
}

static void test_embed_pool(int n, int P, int D) {
    const int T = P + 1;
    size_t np = (size_t)n * D * P, ny = (size_t)n * T * D, npos = (size_t)T * D;
    float *patch = rnd(np, -1, 1), *cls = rnd(D, -1, 1), *pos = rnd(npos, -1, 1), *dy = rnd(ny, -1, 1);
    float *dcls = rnd(D, -1, 1), *dpos = rnd(npos, -1, 1), *y = malloc(ny * 4), *dpatch = malloc(np * 4);
    float *d_patch = up(patch, np), *d_cls = up(cls, D), *d_pos = up(pos, npos), *d_dy = up(dy, ny);
    float *d_dcls = up(dcls, D), *d_dpos = up(dpos, npos), *d_y = poisoned(ny), *d_dpatch = poisoned(np);
    cpu->vit_embed_forward(cpu, n, P, D, patch, cls, pos, F(y));
    cpu->vit_embed_backward(cpu, n, P, D, dy, dpatch, dcls, dpos);
    gpu->vit_embed_forward(gpu, n, P, D, d_patch, d_cls, d_pos, F(d_y));
    gpu->vit_embed_backward(gpu, n, P, D, d_dy, d_dpatch, d_dcls, d_dpos);
    cmp("vit_embed forward", d_y, y, ny, RTOL);
    cmp("vit_embed dpatch", d_dpatch, dpatch, np, RTOL);
    cmp("vit_embed dcls (+=)", d_dcls, dcls, D, RTOL);
    cmp("vit_embed dpos (+=)", d_dpos, dpos, npos, RTOL);
    for (int mean = 0; mean < 2; mean++) {
        float *pd = rnd((size_t)n * D, -1, 1), *py = malloc((size_t)n * D * 4), *pdx = malloc(ny * 4);
        float *d_pd = up(pd, (size_t)n * D), *d_py = poisoned((size_t)n * D), *d_pdx = poisoned(ny);
        cpu->token_pool_forward(cpu, n, T, D, mean, F(y), py);
        cpu->token_pool_backward(cpu, n, T, D, mean, pd, pdx);
        gpu->token_pool_forward(gpu, n, T, D, mean, F(d_y), d_py);
        gpu->token_pool_backward(gpu, n, T, D, mean, d_pd, d_pdx);
        cmp(mean ? "token_pool mean forward" : "token_pool cls forward", d_py, py, (size_t)n * D, RTOL);
        cmp(mean ? "token_pool mean backward" : "token_pool cls backward", d_pdx, pdx, ny, RTOL);
        free(pd), free(py), free(pdx);
    }
    free(patch), free(cls), free(pos), free(dy), free(dcls), free(dpos), free(y), free(dpatch);
    release_dev();
}

static void test_drop_path(int n, size_t len) {
    size_t m = (size_t)n * len;
    float *x = rnd(m, -1, 1), *y = malloc(m * 4), *d_x = up(x, m), *d_y = poisoned(m);
    cpu->drop_path(cpu, n, len, 0.3f, 77, 2, 11, 5, 9, F(x), F(y));
    gpu->drop_path(gpu, n, len, 0.3f, 77, 2, 11, 5, 9, F(d_x), F(d_y));
    cmp("drop_path (bitwise)", d_y, y, m, 0.0);
    free(x), free(y);
    release_dev();
}

// ---- bf16 views: CUDA's bf16 cases against the CPU's ----
static uint16_t *bf16_host(const float *f, size_t n) { // round to nearest even
    uint16_t *h = malloc((n ? n : 1) * 2);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        h[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
    return h;
}
static uint16_t *up16(const uint16_t *h, size_t n) {
    uint16_t *d = dev_alloc(n * 2);
    gpu->copy(gpu, d, h, n * 2, APT_COPY_H2D);
    return d;
}
static AptTensor B16(const void *p) {
    return apt_tensor(p, APT_BF16, APT_NCHW);
}
static int cmp16(const char *label, const uint16_t *d_got, const uint16_t *want, size_t n) {
    uint16_t *got = malloc((n ? n : 1) * 2);
    gpu->copy(gpu, got, d_got, n * 2, APT_COPY_D2H);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t ug = (uint32_t)got[i] << 16, uw = (uint32_t)want[i] << 16;
        float g, w;
        memcpy(&g, &ug, 4), memcpy(&w, &uw, 4);
        bad += !(fabsf(g - w) <= 0x1p-8f * fabsf(w) + 1e-30f);
    }
    free(got);
    TEST_CHECK(bad == 0, "%s: %zu of %zu bf16 outputs more than one bf16 step from the cpu's", label, bad, n);
    return bad == 0;
}

static void test_bf16_views(int R, int D, int T, int H, int hd) {
    const size_t rd = (size_t)R * D;
    float *xf = rnd(rd, -2, 2), *dy = rnd(rd, -1, 1), *g = rnd(D, 0.5f, 1.5f), *b = rnd(D, -0.5f, 0.5f);
    uint16_t *xh = bf16_host(xf, rd), *yc = malloc(rd * 2);
    float *m = malloc(R * 4), *rs = malloc(R * 4), *dx = malloc(rd * 4), *dg = calloc(D, 4), *db = calloc(D, 4);
    uint16_t *x_d = up16(xh, rd), *y_d = dev_alloc(rd * 2);
    float *g_d = up(g, D), *b_d = up(b, D), *dy_d = up(dy, rd), *m_d = poisoned(R), *rs_d = poisoned(R);
    float *dx_d = poisoned(rd), *dg_d = up(dg, D), *db_d = up(db, D);
    cpu->layernorm_forward(cpu, R, D, B16(xh), g, b, 1e-6f, B16(yc), m, rs);
    gpu->layernorm_forward(gpu, R, D, B16(x_d), g_d, b_d, 1e-6f, B16(y_d), m_d, rs_d);
    cmp16("layernorm_forward bf16 y", y_d, yc, rd);
    cmp("layernorm_forward bf16 mean", m_d, m, R, RTOL), cmp("layernorm_forward bf16 rstd", rs_d, rs, R, RTOL);
    cpu->layernorm_backward(cpu, R, D, B16(xh), dy, g, m, rs, dx, dg, db);
    gpu->layernorm_backward(gpu, R, D, B16(x_d), dy_d, g_d, m_d, rs_d, dx_d, dg_d, db_d);
    cmp("layernorm_backward bf16 x: dx", dx_d, dx, rd, RTOL);
    cmp("layernorm_backward bf16 x: dgamma", dg_d, dg, D, RTOL), cmp("... dbeta", db_d, db, D, RTOL);
    cpu->gelu_forward(cpu, rd, B16(xh), B16(yc));
    gpu->gelu_forward(gpu, rd, B16(x_d), B16(y_d));
    cmp16("gelu_forward bf16", y_d, yc, rd);
    cpu->gelu_backward(cpu, rd, B16(xh), dy, dx);
    gpu->gelu_backward(gpu, rd, B16(x_d), dy_d, dx_d);
    cmp("gelu_backward bf16 x", dx_d, dx, rd, RTOL);
    cpu->softmax_forward(cpu, R, D, B16(xh), B16(yc));
    gpu->softmax_forward(gpu, R, D, B16(x_d), B16(y_d));
    cmp16("softmax_forward bf16", y_d, yc, rd);
    uint16_t *yc_d = up16(yc, rd); // the backward from the same stored output on both sides
    cpu->softmax_backward(cpu, R, D, B16(yc), dy, dx);
    gpu->softmax_backward(gpu, R, D, B16(yc_d), dy_d, dx_d);
    cmp("softmax_backward bf16 y", dx_d, dx, rd, RTOL);
    cpu->drop_path(cpu, R, D, 0.3f, 9, 1, 2, 0, 4, B16(xh), B16(yc));
    gpu->drop_path(gpu, R, D, 0.3f, 9, 1, 2, 0, 4, B16(x_d), B16(y_d));
    cmp16("drop_path bf16", y_d, yc, rd);
    // attention-shaped bf16 products (the tiled kernel): scores S = q k^T and P v, per head, from a bf16 qkv
    const int D3 = 3 * H * hd, TT = T * T;
    float *qkv = rnd((size_t)T * D3, -1, 1), *pf = rnd((size_t)H * TT, 0, 1);
    uint16_t *qkvh = bf16_host(qkv, (size_t)T * D3), *ph = bf16_host(pf, (size_t)H * TT);
    uint16_t *qkv_d = up16(qkvh, (size_t)T * D3), *p_d = up16(ph, (size_t)H * TT);
    float *S = malloc((size_t)H * TT * 4), *S_d = poisoned((size_t)H * TT);
    cpu->gemm_batched(cpu, false, true, T, T, hd, 0.125f, B16(qkvh), D3, hd, B16(qkvh + H * hd), D3, hd, 0.0f,
                      F(S), T, TT, H, NULL);
    gpu->gemm_batched(gpu, false, true, T, T, hd, 0.125f, B16(qkv_d), D3, hd, B16(qkv_d + H * hd), D3, hd, 0.0f,
                      F(S_d), T, TT, H, NULL);
    cmp("gemm_batched bf16 q k^T -> fp32", S_d, S, (size_t)H * TT, RTOL);
    uint16_t *O = malloc((size_t)T * H * hd * 2), *O_d = dev_alloc((size_t)T * H * hd * 2);
    cpu->gemm_batched(cpu, false, false, T, hd, T, 1.0f, B16(ph), T, TT, B16(qkvh + 2 * H * hd), D3, hd, 0.0f,
                      B16(O), H * hd, hd, H, NULL);
    gpu->gemm_batched(gpu, false, false, T, hd, T, 1.0f, B16(p_d), T, TT, B16(qkv_d + 2 * H * hd), D3, hd, 0.0f,
                      B16(O_d), H * hd, hd, H, NULL);
    cmp16("gemm_batched bf16 P v -> bf16", O_d, O, (size_t)T * H * hd);
    // a token linear: bf16 x [T, D3] times fp32 w [hd, D3]^T plus bias -> bf16
    float *w = rnd((size_t)hd * D3, -0.1f, 0.1f), *bias = rnd(hd, -1, 1), *w_d = up(w, (size_t)hd * D3);
    float *bias_d = up(bias, hd);
    cpu->gemm_batched(cpu, false, true, T, hd, D3, 1.0f, B16(qkvh), D3, 0, F(w), D3, 0, 0.0f, B16(O), hd, 0, 1, bias);
    gpu->gemm_batched(gpu, false, true, T, hd, D3, 1.0f, B16(qkv_d), D3, 0, F(w_d), D3, 0, 0.0f, B16(O_d), hd, 0, 1,
                      bias_d);
    cmp16("gemm_batched token linear bf16 x fp32 w + bias -> bf16", O_d, O, (size_t)T * hd);
    release_dev();
    free(xf), free(dy), free(g), free(b), free(xh), free(yc), free(m), free(rs), free(dx), free(dg), free(db);
    free(qkv), free(pf), free(qkvh), free(ph), free(S), free(O), free(w), free(bias);
}

int main(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        printf("SKIP: no CUDA device (test_transformer_ops_cuda needs one; nothing was checked)\n");
        return 77;
    }
    cpu = apt_backend_create("cpu");
    gpu = apt_backend_create("cuda");
    test_attention_gemms(17, 3, 8);    // odd
    test_attention_gemms(197, 12, 64); // ViT-B/16 at 224: T = 197, 12 heads of 64
    test_attention_gemms(197, 6, 64);  // ViT-S/16
    test_layernorm(7, 33);
    test_layernorm(2 * 197, 768); // a ViT-B/16 block's LayerNorm for 2 images
    test_gelu_softmax(100003, 6 * 197, 197);
    test_gelu_softmax(37, 5, 3);
    test_embed_pool(3, 5, 7);
    test_embed_pool(2, 196, 384);
    test_drop_path(33, 197 * 5);
    test_bf16_views(7, 33, 17, 3, 8);
    test_bf16_views(2 * 197, 384, 197, 6, 64); // ViT-S/16 sizes
    int rc = apt_test_finish("test_transformer_ops_cuda");
    apt_backend_destroy(gpu);
    apt_backend_destroy(cpu);
    return rc;
}
