// loss_impl.h — what a loss file implements: the per-query row function the driver in loss.c calls.
//
// The driver computes the similarity row s_q. = <e_q, e_.> of one query in float64, hands it to the
// row function, and turns the returned d loss / d s_q. (gs) into dE with two GEMMs. A row function
// therefore only knows one query: its similarities, the labels, and the rows of its class.
#pragma once
#include <math.h>
#include <stdbool.h>

#include "loss.h"

typedef struct {
    const double *s;    // [B] s_qj = <e_q, e_j>, j over the global batch (j = q included)
    double *gs;         // [B] out, zeroed by the caller: d loss_part / d s_qj
    double *tmp;        // [B] scratch owned by the calling thread
    const double *same; // [B] 1.0 where labels[j] == labels[q], else 0.0
    const int *labels;  // [B]
    const int *pos;     // [npos] rows of q's class in ascending order, q included
    int npos, B, q;
    double w; // 1 / global query normaliser
} AptLossRow;

// Returns this query's contribution to loss_part (already multiplied by w).
typedef double (*AptLossRowFn)(const AptLossParams *p, const AptLossRow *r);

// One per row of loss_names.h (loss.c builds the registry from the table).
struct AptLossImpl {
    AptLossId id;
    const char *name;
    AptLossRowFn row;
    int variant; // pnp: which f(N); others: 0
    // Whether a query whose class has npos rows (itself included) in a batch of B counts in the
    // global normaliser. NULL: every query counts (the normaliser is B).
    bool (*counts)(const AptLossParams *p, int npos, int B);
};

// VARIANT column of loss_names.h for the pnp-* rows.
enum { APT_PNP_O = 0, APT_PNP_DS, APT_PNP_DQ, APT_PNP_IU, APT_PNP_IB };

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

// The row kernel (loss_kernel.c): g[j] = G(s[j] - si), dg[j] = G'(s[j] - si) for j in [0, B),
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
