// test_backend_se_cuda.c — the squeeze-excitation ops of the CUDA table (cuda/cuda_se.cu) against the
// CPU table (cpu/cpu_se.c, itself checked against float64 loops and finite differences in
// test_backend_ops.c), on random inputs with odd sizes and SE-ResNet-50 sizes, outputs poisoned with NaN
// beforehand so an unwritten element fails. Label gpu; skips (exit 77) without a usable CUDA device.
//
// Tolerance: sigmoid and the scale are one or two float32 operations per element (expf may differ by
// an ulp or two between libm and CUDA): rtol 1e-6 + 1e-6 max|cpu|. ds sums HW products in float64 on
// both sides (different orders) and rounds once: rtol 1e-6. The reductions must repeat bitwise.
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
static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static float frand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static float *rnd(size_t n, float scale) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * frand();
    return v;
}
static void *up(const void *h, size_t bytes) {
    void *d = gpu->alloc(gpu, bytes);
    gpu->copy(gpu, d, h, bytes, APT_COPY_H2D);
    return d;
}
static void *poisoned(size_t bytes) {
    void *d = gpu->alloc(gpu, bytes);
    CUDA_CHECK(cudaMemsetAsync(d, 0xff, bytes, (cudaStream_t)apt_backend_cuda_stream(gpu)));
    return d;
}
static float *down(const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    gpu->copy(gpu, h, d, n * sizeof *h, APT_COPY_D2H);
    return h;
}
static void cmp(const char *label, const float *d_got, const float *want, size_t n, double rtol) {
    float *got = down(d_got, n);
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    expect_close_f(got, want, n, rtol, rtol * (scale > 0 ? scale : 1.0) + 1e-30, label);
    free(got);
}
static int same_bits(const float *d_a, const float *d_b, size_t n) {
    float *a = down(d_a, n), *b = down(d_b, n);
    int eq = memcmp(a, b, n * sizeof *a) == 0;
    free(a);
    free(b);
    return eq;
}

static void test_sigmoid(size_t n) {
    float *x = rnd(n, 8.0f), *dy = rnd(n, 1.0f), *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx);
    cpu->sigmoid_forward(cpu, n, x, y);
    cpu->sigmoid_backward(cpu, n, y, dy, dx);
    float *gx = up(x, n * 4), *gdy = up(dy, n * 4), *gy = poisoned(n * 4), *gdx = poisoned(n * 4);
    gpu->sigmoid_forward(gpu, n, gx, gy);
    cmp("sigmoid fwd", gy, y, n, 1e-6);
    gpu->copy(gpu, gy, y, n * 4, APT_COPY_H2D); // the backward from the same y on both sides
    gpu->sigmoid_backward(gpu, n, gy, gdy, gdx);
    cmp("sigmoid bwd", gdx, dx, n, 1e-6);
    gpu->free(gpu, gx), gpu->free(gpu, gdy), gpu->free(gpu, gy), gpu->free(gpu, gdx);
    free(x), free(dy), free(y), free(dx);
}

static void test_chscale(int N, int C, int HW) {
    size_t n = (size_t)N * C * HW, ns = (size_t)N * C;
    float *x = rnd(n, 1.0f), *s = rnd(ns, 1.0f), *dy = rnd(n, 1.0f), *y = malloc(n * 4), *dx = malloc(n * 4),
          *ds = malloc(ns * 4);
    cpu->chscale_forward(cpu, N, C, HW, apt_f32(x), s, apt_f32(y));
    cpu->chscale_backward(cpu, N, C, HW, apt_f32(x), s, apt_f32(dy), apt_f32(dx), ds);
    float *gx = up(x, n * 4), *gs = up(s, ns * 4), *gdy = up(dy, n * 4), *gy = poisoned(n * 4),
          *gdx = poisoned(n * 4), *gds = poisoned(ns * 4), *gds2 = poisoned(ns * 4);
    char label[96];
    gpu->chscale_forward(gpu, N, C, HW, apt_f32(gx), gs, apt_f32(gy));
    snprintf(label, sizeof label, "chscale fwd %dx%dx%d", N, C, HW);
    cmp(label, gy, y, n, 1e-6);
    gpu->chscale_backward(gpu, N, C, HW, apt_f32(gx), gs, apt_f32(gdy), apt_f32(gdx), gds);
    snprintf(label, sizeof label, "chscale dx %dx%dx%d", N, C, HW);
    cmp(label, gdx, dx, n, 1e-6);
    snprintf(label, sizeof label, "chscale ds %dx%dx%d", N, C, HW);
    cmp(label, gds, ds, ns, 1e-6);
    gpu->chscale_backward(gpu, N, C, HW, apt_f32(gx), gs, apt_f32(gdy), apt_f32(NULL), gds2);
    TEST_CHECK(same_bits(gds, gds2, ns), "chscale ds repeats bitwise (%dx%dx%d)", N, C, HW);
    gpu->free(gpu, gx), gpu->free(gpu, gs), gpu->free(gpu, gdy), gpu->free(gpu, gy);
    gpu->free(gpu, gdx), gpu->free(gpu, gds), gpu->free(gpu, gds2);
    free(x), free(s), free(dy), free(y), free(dx), free(ds);
}

int main(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        printf("SKIP: no CUDA device (test_backend_se_cuda needs one; nothing was checked)\n");
        return 77;
    }
    cpu = apt_backend_create("cpu");
    gpu = apt_backend_create("cuda");
    test_sigmoid(37);
    test_sigmoid(1000003);
    test_chscale(3, 5, 11);         // odd everything, HW < 32 (idle lanes)
    test_chscale(2, 7, 33);         // one element past a warp
    test_chscale(4, 256, 56 * 56);  // SE-ResNet-50 stage 1 at 224 px
    test_chscale(8, 2048, 7 * 7);   // stage 4
    int rc = apt_test_finish("test_backend_se_cuda");
    apt_backend_destroy(gpu);
    apt_backend_destroy(cpu);
    return rc;
}
