// cpu_se.c — the squeeze-excitation ops (SE-ResNet, Hu et al. 2018): the sigmoid gate and the
// per-channel scale of a feature map. The excitation's two FC layers are linear_forward/backward and
// the squeeze is gap_forward/backward, so only these two are new.
//   x, y, dy, dx: [N, C, HW] NCHW float32; s, ds: [N, C] (one gate per sample and channel).
#include "cpu_ops.h"

#include <math.h>

// y = 1 / (1 + exp(-x)); exp of a large positive argument gives inf and y = 0, as torch.sigmoid does.
void apt_cpu_sigmoid_forward(AptBackend *be, size_t n, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] = 1.0f / (1.0f + expf(-x[i]));
}

// dsigma/dx = sigma (1 - sigma): from the output, so the input need not be kept.
void apt_cpu_sigmoid_backward(AptBackend *be, size_t n, const float *y, const float *dy, float *dx) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

void apt_cpu_chscale_forward_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *s,
                                 float *y) {
    (void)be;
    const long planes = (long)N * C;
#pragma omp parallel for schedule(static) if ((size_t)planes * HW > 65536)
    for (long pl = 0; pl < planes; pl++) {
        const float g = s[pl], *xp = x + (size_t)pl * HW;
        float *yp = y + (size_t)pl * HW;
        for (int i = 0; i < HW; i++)
            yp[i] = xp[i] * g;
    }
}

// ds is summed in float64 in index order (the same bits for any thread count: one plane per thread).
void apt_cpu_chscale_backward_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *s,
                                  const float *dy, float *dx, float *ds) {
    (void)be;
    const long planes = (long)N * C;
#pragma omp parallel for schedule(static) if ((size_t)planes * HW > 65536)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * HW, *dyp = dy + (size_t)pl * HW;
        if (ds) {
            double acc = 0;
            for (int i = 0; i < HW; i++)
                acc += (double)dyp[i] * xp[i];
            ds[pl] = (float)acc;
        }
        if (dx) { // after ds: dx may alias dy
            const float g = s[pl];
            float *dxp = dx + (size_t)pl * HW;
            for (int i = 0; i < HW; i++)
                dxp[i] = dyp[i] * g;
        }
    }
}
