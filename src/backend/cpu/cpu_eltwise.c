// cpu_eltwise.c — ReLU and elementwise arithmetic.
#include "cpu_ops.h"

void apt_cpu_relu_forward_f32(AptBackend *be, size_t n, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] < 0.0f ? 0.0f : x[i]; // NaN propagates, as in torch
}

// The mask comes from the output (y > 0 iff x > 0), so the input need not be kept.
void apt_cpu_relu_backward_f32(AptBackend *be, size_t n, const float *y, const float *dy, float *dx) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void apt_cpu_add_f32(AptBackend *be, size_t n, const float *a, const float *b, float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void apt_cpu_axpy(AptBackend *be, size_t n, float alpha, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

void apt_cpu_scale(AptBackend *be, size_t n, float alpha, float *x) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        x[i] *= alpha;
}

void apt_cpu_fill(AptBackend *be, size_t n, float value, float *x) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        x[i] = value;
}
