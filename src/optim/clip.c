// clip.c — deterministic global gradient norm and clipping (torch.nn.utils.clip_grad_norm_ semantics).
#include "optim.h"

#include <math.h>

// Sum of squares of one tensor: 8 float64 lanes over a fixed stride, combined in a fixed order. Same result
// whatever the compiler vectorises, since the association is written out here.
static double sumsq(const float *g, size_t n) {
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)g[i + k] * (double)g[i + k];
    for (; i < n; i++) acc[i % 8] += (double)g[i] * (double)g[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double apt_grad_norm(const AptParamStore *ps) {
    double total = 0;
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        total += sumsq(ps->g + p->offset, p->numel);
    }
    return sqrt(total);
}

double apt_grad_clip(AptParamStore *ps, double max_norm) {
    double norm = apt_grad_norm(ps);
    if (max_norm <= 0 || !(norm > max_norm)) return norm;
    float coef = (float)(max_norm / (norm + 1e-6));
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        float *g = ps->g + p->offset;
        for (size_t j = 0; j < p->numel; j++) g[j] *= coef;
    }
    return norm;
}
