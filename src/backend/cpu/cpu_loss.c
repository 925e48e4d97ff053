// cpu_loss.c — the ranking-loss op of the CPU table: the float32 path of the loss driver in
// src/loss/loss.c (GEMM similarity blocks + the vectorised sigmoid row kernel), whose float64 path also
// serves `aptrain loss`. Every loss of the registry runs here, baselines included.
#include "cpu_ops.h"

#include "loss/loss.h"

void apt_cpu_loss_create(AptBackend *be, const struct AptLossParams *p, int b_max, int B_max, int D_max,
                         int m_max, void **ws) {
    (void)be, (void)p, (void)m_max;
    *ws = apt_loss_workspace_create(b_max, B_max, D_max, APT_F32);
}

void apt_cpu_loss_free(AptBackend *be, void *ws) {
    (void)be;
    apt_loss_workspace_free(ws);
}

void apt_cpu_loss_compute(AptBackend *be, void *ws, const struct AptLossParams *p, const float *E,
                          const int *labels, int B, int D, int q_begin, int q_end, float *dE, double *loss_part) {
    (void)be;
    AptLossIn in = {.E = E, .labels = labels, .B = B, .D = D, .q_begin = q_begin, .q_end = q_end};
    AptLossOut out = {.dE = dE};
    apt_loss_compute(ws, p, &in, &out);
    *loss_part = out.loss_part;
}
