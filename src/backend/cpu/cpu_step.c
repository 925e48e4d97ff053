// cpu_step.c — the small ops of a training step's tail: float64 fill, precision casts, the sum of
// squares behind the gradient norm, and the finite flag behind the numeric stop.
#include "cpu_ops.h"

#include <math.h>
#include <string.h>

void apt_cpu_fill_f64(AptBackend *be, size_t n, double value, double *x) {
    (void)be;
    for (size_t i = 0; i < n; i++)
        x[i] = value;
}

// Round to nearest even on the upper 16 bits; NaN keeps a quiet-NaN pattern (torch's rounding).
void apt_cpu_cast_f32_bf16(AptBackend *be, size_t n, const float *x, uint16_t *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u)
            y[i] = (uint16_t)((u >> 16) | 0x40u);
        else
            y[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

void apt_cpu_cast_bf16_f32(AptBackend *be, size_t n, const uint16_t *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)x[i] << 16;
        memcpy(&y[i], &u, 4);
    }
}

// 8 float64 lanes over a fixed stride, combined in a fixed tree: the association is written out, so the
// result does not depend on how the compiler vectorises (the gradient norm of every rank is identical).
void apt_cpu_sumsq(AptBackend *be, size_t n, const float *x, double *out, bool accumulate) {
    (void)be;
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; i++)
        acc[i % 8] += (double)x[i] * (double)x[i];
    double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    *out = accumulate ? *out + s : s;
}

void apt_cpu_finite_check(AptBackend *be, size_t n, const float *x, double *flag) {
    (void)be;
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= !isfinite(x[i]);
    if (bad) *flag = 0.0;
}
