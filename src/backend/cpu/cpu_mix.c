// cpu_mix.c — SiMix's row mixing (loss.simix, src/loss/simix.h): virtual rows as convex combinations of
// two rows, and the transpose that folds their gradient back. Shapes and contract: backend.h (mix_rows).
// Each output row is written by one thread and its terms are summed in the given order, so the result
// does not depend on the thread count.
#include "cpu_ops.h"

void apt_cpu_mix_rows(AptBackend *be, int n, int D, const int *src, const float *alpha, const float *x,
                      float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if ((long long)n * D > (1ll << 18))
    for (int r = 0; r < n; r++) {
        const float a = alpha[r], b = 1.0f - a;
        const float *xi = x + (size_t)src[2 * r] * D, *xj = x + (size_t)src[2 * r + 1] * D;
        float *yr = y + (size_t)r * D;
        for (int d = 0; d < D; d++)
            yr[d] = a * xi[d] + b * xj[d];
    }
}

void apt_cpu_mix_rows_backward(AptBackend *be, int n_x, int D, const int *start, const int *ent,
                               const float *alpha, const float *dy, float *dx) {
    (void)be;
#pragma omp parallel for schedule(static) if ((long long)n_x * D > (1ll << 18))
    for (int t = 0; t < n_x; t++) {
        float *dxt = dx + (size_t)t * D;
        for (int d = 0; d < D; d++)
            dxt[d] = 0.0f;
        for (int e = start[t]; e < start[t + 1]; e++) {
            const int r = ent[e] >> 1;
            const float c = (ent[e] & 1) ? 1.0f - alpha[r] : alpha[r];
            const float *dyr = dy + (size_t)r * D;
            for (int d = 0; d < D; d++)
                dxt[d] += c * dyr[d];
        }
    }
}
