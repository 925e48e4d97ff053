// cpu_optim.c — SGD / Adam / AdamW elementwise updates on flat ranges (the formulas are documented in
// src/optim/optim.h, which drives them per tensor).
#include "cpu_ops.h"

#include <math.h>

void apt_cpu_sgd_update(AptBackend *be, float *w, const float *g, float *buf, size_t n, float lr, float wd,
                        float mu, bool nesterov) {
    (void)be;
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float b = mu * buf[i] + d;
        buf[i] = b;
        w[i] -= lr * (nesterov ? d + mu * b : b);
    }
}

void apt_cpu_adam_update(AptBackend *be, float *w, const float *g, float *m, float *v, size_t n, float lr,
                         float b1, float b2, float eps, float wd, bool decoupled, long t) {
    (void)be;
    // Scalars in float64 as torch does in Python, then rounded once to float32.
    double bc1 = 1.0 - pow((double)b1, (double)t);
    double bc2 = 1.0 - pow((double)b2, (double)t);
    float step_size = (float)((double)lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float wd_coupled = decoupled ? 0.0f : wd;
    float decay_mul = decoupled ? (float)(1.0 - (double)lr * (double)wd) : 1.0f;
    float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float wi = w[i] * decay_mul;
        float d = g[i] + wd_coupled * wi;
        float mi = b1 * m[i] + c1 * d;
        float vi = b2 * v[i] + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        // Same operation order as torch: denom = sqrt(v) / sqrt(bc2) + eps; w += -step_size * (m / denom).
        w[i] = wi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}
