// cpu_loss.h — the ranking losses on the CPU (DESIGN §3): the driver (cpu_loss.c: GEMM similarity blocks,
// per-query row functions, dE by GEMM), the vectorised sigmoid row kernel (cpu_loss_kernel.c) and one row
// function per loss (cpu_loss_<name>.c). The CPU op table's loss op runs the float32 path; `aptrain loss`
// and the references run the float64 path (src/loss/ calls down into both through loss/loss.h).
//
// Cost: S = E[q_begin:q_end] E^T by GEMM, then O(b * m * B) sigmoid terms for the ranking losses
// (only (query, positive) pairs enter), and dE by two more GEMMs: 6 b B D flop. One process with the
// whole batch (B <= 8192) takes a symmetric path: syrk + one GEMM, 3 B^2 D flop. Memory is the
// workspace: one block of similarity rows (max(512, 64M / B_max) rows, capped at b_max) plus four
// B_max-length double rows per OpenMP thread: O(b * B), never a B x B x B tensor.
//
// Two precisions behind the same call: float32 (the training path: E, dE float; S by sgemm; every
// per-query sum is accumulated in double) and float64 (E64/dE64: `aptrain loss` and references).
//
// Thread safety: a workspace serves one call at a time. Results are deterministic: fixed query
// partitioning, per-query sums in a fixed order, no atomics; identical for any OpenMP thread count
// given the same BLAS thread count.
#pragma once
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "backend/loss_host.h"
#include "backend/loss_types.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// The driver (workspace, apt_loss_compute) and the registry: backend/loss_host.h.

// ---- the kernels behind the row functions and the row functions themselves (one per loss) ----

// The sigmoid of DESIGN §3: G(d) = 1 / (1 + exp(e)), e = -d / tau clamped to [-50, 50].
// G'(d) = exp(e) G^2 / tau (this form stays accurate at both ends of the clamp), and 0 where the
// clamp is active: the gradient torch.clamp gives in the official PyTorch code (it passes the gradient
// only for min <= e <= max). inv_tau = 1 / tau. Scalar version (reference for the row kernel).
static inline double apt_loss_sigmoid(double d, double inv_tau, double *dg) {
    double e = -d * inv_tau;
    double ec = e > 50.0 ? 50.0 : (e < -50.0 ? -50.0 : e);
    double ex = exp(ec), g = 1.0 / (1.0 + ex);
    *dg = (e > 50.0 || e < -50.0) ? 0.0 : ex * g * g * inv_tau;
    return g;
}

// exp(x) for |x| <= 50 (the clamped exponent), branch-free so that loops over it vectorise:
// Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, degree-13 Taylor polynomial (truncation
// < 1e-17 relative), 2^k built in the exponent bits. Max error ~2 ulp (tests/loss checks 1e-15).
double apt_loss_exp(double x);

// The row kernel (cpu_loss_kernel.c): g[j] = G(s[j] - si), dg[j] = G'(s[j] - si) for j in [0, B),
// vectorised (4 doubles per AVX2 instruction); bit-identical to a scalar loop over apt_loss_exp.
void apt_loss_sigmoid_row(const double *s, double si, double inv_tau, int B, double *g, double *dg);
// The fused form the losses use: dg[j] = G'(s[j] - si) and the sums of G(s[j] - si) over same[j] = 1
// and same[j] = 0, leaving out the columns x1 and x2 (-1: none) — one pass instead of three.
void apt_loss_sigmoid_sums(const double *s, const double *same, double si, double inv_tau, int B, int x1,
                           int x2, double *dg, double *sum_same, double *sum_other);

double apt_loss_smoothap_row(const AptLossParams *p, const AptLossRow *r);
bool apt_loss_smoothap_counts(const AptLossParams *p, int npos, int B);
double apt_loss_pnp_row(const AptLossParams *p, const AptLossRow *r);
double apt_loss_contrastive_row(const AptLossParams *p, const AptLossRow *r);
double apt_loss_triplet_row(const AptLossParams *p, const AptLossRow *r);
bool apt_loss_triplet_counts(const AptLossParams *p, int npos, int B);
double apt_loss_multisim_row(const AptLossParams *p, const AptLossRow *r);
double apt_loss_recallk_row(const AptLossParams *p, const AptLossRow *r);
bool apt_loss_recallk_counts(const AptLossParams *p, int npos, int B);

#ifdef __cplusplus
}
#endif
