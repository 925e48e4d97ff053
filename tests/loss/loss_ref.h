// loss_ref.h — naive float64 references of every loss, written straight from the formulas of
// DESIGN §3 (and the comments at the top of src/loss/*.c) in the official codes' dense style: the
// Smooth-AP/PNP references build the full B x B x B sigmoid tensor with masks, exactly as the
// official PyTorch code does, and backpropagate through it by hand. No code is shared with src/loss.
//
// ref_loss(name, ...) returns the loss and fills dS [B, B] = d loss / d S_qj for S = E E^T;
// ref_grad turns dS into d loss / d E.
#pragma once
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double tau, alpha, b, margin, ms_alpha, ms_beta, ms_lambda, ms_margin;
    int include_self, semihard;
    int nk;                  // recallk: number of k values
    double k[16], tau_k[16]; // recallk: k and temperature of each Recall@k term
} RefParams;

static inline RefParams ref_defaults(const char *name) {
    (void)name; // the defaults of config_keys.def, written out independently
    RefParams p = {0.01, 4.0, 2.0, 0.2, 2.0, 50.0, 0.5, 0.1, 1, 0, 5, {1, 2, 4, 8, 16}, {1, 2, 4, 8, 16}};
    return p;
}

static inline double ref_G(double d, double tau, double *dg) {
    double e = -d / tau;
    int clamped = e > 50 || e < -50;
    if (e > 50) e = 50;
    if (e < -50) e = -50;
    double g = 1.0 / (1.0 + exp(e));
    *dg = clamped ? 0.0 : g * (1.0 - g) / tau; // g(1-g): the textbook form, different from the library's
    return g;
}

// Smooth-AP, official-code style: sg[q][i][j] = G(S_qj - S_qi) * mask, ranks by summing over j.
static inline double ref_smoothap(const double *S, const int *lab, int NQ, int B, RefParams p, double *dS) {
    size_t n3 = (size_t)B * B * B;
    double *sg = calloc(n3, sizeof(double)), *dsg = calloc(n3, sizeof(double));
    double *ra = calloc((size_t)B * B, sizeof(double)), *rp = calloc((size_t)B * B, sizeof(double));
    int nvalid = 0;
    for (int q = 0; q < NQ; q++) {
        int m = 0;
        for (int i = 0; i < B; i++)
            m += lab[i] == lab[q] && (p.include_self || i != q);
        if (m > 0) nvalid++;
    }
    for (int q = 0; q < NQ; q++)
        for (int i = 0; i < B; i++)
            for (int j = 0; j < B; j++) {
                int in_gallery = j != i && (p.include_self || (j != q && i != q));
                size_t k = ((size_t)q * B + i) * B + j;
                sg[k] = in_gallery ? ref_G(S[q * B + j] - S[q * B + i], p.tau, &dsg[k]) : 0.0;
                if (!in_gallery) dsg[k] = 0.0;
            }
    double loss = 0;
    memset(dS, 0, sizeof(double) * B * B);
    for (int q = 0; q < NQ; q++) {
        int m = 0;
        for (int i = 0; i < B; i++)
            m += lab[i] == lab[q] && (p.include_self || i != q);
        if (m == 0) continue;
        double ap = 0;
        for (int i = 0; i < B; i++) {
            int pos_i = lab[i] == lab[q] && (p.include_self || i != q);
            double a = 1, r = 1;
            for (int j = 0; j < B; j++) {
                size_t k = ((size_t)q * B + i) * B + j;
                a += sg[k];
                if (lab[j] == lab[q] && (p.include_self || j != q)) r += sg[k];
            }
            ra[q * B + i] = a;
            rp[q * B + i] = r;
            if (pos_i) ap += r / a / m;
        }
        loss += (1.0 - ap) / nvalid;
        for (int i = 0; i < B; i++) {
            int pos_i = lab[i] == lab[q] && (p.include_self || i != q);
            if (!pos_i) continue;
            double a = ra[q * B + i], r = rp[q * B + i];
            double d_a = r / (a * a) / m / nvalid, d_r = -1.0 / a / m / nvalid;
            for (int j = 0; j < B; j++) {
                size_t k = ((size_t)q * B + i) * B + j;
                double d = d_a * dsg[k];
                if (lab[j] == lab[q] && (p.include_self || j != q)) d += d_r * dsg[k];
                dS[q * B + j] += d;
                dS[q * B + i] -= d;
            }
        }
    }
    free(sg), free(dsg), free(ra), free(rp);
    return loss;
}

// PNP: N(q,i) = sum over negatives of G(S_qj - S_qi), dense over (q, i, j) with a negative mask.
static inline double ref_pnp(const char *variant, const double *S, const int *lab, int NQ, int B, RefParams p,
                             double *dS) {
    double loss = 0;
    memset(dS, 0, sizeof(double) * B * B);
    for (int q = 0; q < NQ; q++) {
        int m = 0;
        for (int i = 0; i < B; i++)
            m += lab[i] == lab[q];
        double fsum = 0;
        for (int i = 0; i < B; i++) {
            if (lab[i] != lab[q]) continue;
            double N = 0, dg[4096];
            for (int j = 0; j < B; j++) {
                dg[j] = 0;
                if (lab[j] != lab[q]) N += ref_G(S[q * B + j] - S[q * B + i], p.tau, &dg[j]);
            }
            double f, fp;
            if (!strcmp(variant, "pnp-o"))
                f = N, fp = 1;
            else if (!strcmp(variant, "pnp-ds"))
                f = log(1 + N), fp = 1 / (1 + N);
            else if (!strcmp(variant, "pnp-dq"))
                f = pow(1 + N, -p.alpha), fp = -p.alpha * pow(1 + N, -p.alpha - 1);
            else if (!strcmp(variant, "pnp-iu"))
                f = (1 + N) * log(1 + N), fp = log(1 + N) + 1;
            else
                f = (p.b * N - log(1 + p.b * N)) / (p.b * p.b),
                fp = (p.b - p.b / (1 + p.b * N)) / (p.b * p.b);
            fsum += f;
            double c = fp / m / NQ * (!strcmp(variant, "pnp-dq") ? -1 : 1);
            for (int j = 0; j < B; j++) {
                dS[q * B + j] += c * dg[j];
                dS[q * B + i] -= c * dg[j];
            }
        }
        loss += (!strcmp(variant, "pnp-dq") ? 1 - fsum / m : fsum / m) / NQ;
    }
    return loss;
}

// Recall@k surrogate (official code: github yash0307/RecallatK_surrogate src/losses.py), straight from
// its definition per query q with positives P (q's class without q): dense rank matrix
// R[p] = 1 + sum_{j != p} G(S_qj - S_qp), recall_k = min(sum_p H_k(k - R[p]), k) / min(k, |P|), k
// clipped to B; loss = mean over the queries with |P| >= 1 of (1 - mean_k recall_k). Backward by hand
// through min (gradient 1 below k, 1/2 at k as torch.minimum, 0 above), H_k and G.
static inline double ref_recallk(const double *S, const int *lab, int NQ, int B, RefParams p, double *dS) {
    double loss = 0, *R = malloc(sizeof(double) * B);
    memset(dS, 0, sizeof(double) * B * B);
    int Q = 0;
    for (int q = 0; q < NQ; q++) {
        int np = 0;
        for (int j = 0; j < B; j++)
            np += j != q && lab[j] == lab[q];
        Q += np > 0;
    }
    for (int q = 0; q < NQ; q++) {
        int np = 0;
        for (int j = 0; j < B; j++)
            np += j != q && lab[j] == lab[q];
        if (np == 0) continue;
        for (int i = 0; i < B; i++) {
            R[i] = 0;
            if (i == q || lab[i] != lab[q]) continue;
            double dg;
            R[i] = 1;
            for (int j = 0; j < B; j++)
                if (j != i) R[i] += ref_G(S[q * B + j] - S[q * B + i], p.tau, &dg);
        }
        double recall = 0;
        for (int t = 0; t < p.nk; t++) {
            double k = p.k[t] < B ? p.k[t] : B, norm = k < np ? k : np, sum = 0, dh;
            for (int i = 0; i < B; i++)
                if (i != q && lab[i] == lab[q]) sum += ref_G(k - R[i], p.tau_k[t], &dh);
            recall += fmin(sum, k) / norm;
            double dmin = sum < k ? 1.0 : (sum == k ? 0.5 : 0.0);
            // d loss / d R[i] = -(1 / Q) (1 / K) dmin / norm * H_k'(k - R[i]) * (-1)
            for (int i = 0; i < B; i++) {
                if (i == q || lab[i] != lab[q]) continue;
                ref_G(k - R[i], p.tau_k[t], &dh);
                double dR = dmin / norm * dh / p.nk / Q;
                for (int j = 0; j < B; j++) {
                    if (j == i) continue;
                    double dg;
                    ref_G(S[q * B + j] - S[q * B + i], p.tau, &dg);
                    dS[q * B + j] += dR * dg;
                    dS[q * B + i] -= dR * dg;
                }
            }
        }
        loss += (1 - recall / p.nk) / Q;
    }
    free(R);
    return loss;
}

static inline double ref_contrastive(const double *S, const int *lab, int B, RefParams p, double *dS) {
    double loss = 0;
    memset(dS, 0, sizeof(double) * B * B);
    for (int q = 0; q < B; q++) {
        int np = 0, nn = 0;
        for (int j = 0; j < B; j++)
            np += j != q && lab[j] == lab[q], nn += lab[j] != lab[q];
        for (int j = 0; j < B; j++) {
            if (j == q) continue;
            if (lab[j] == lab[q] && 1 - S[q * B + j] > 0)
                loss += (1 - S[q * B + j]) / np / B, dS[q * B + j] -= 1.0 / np / B;
            if (lab[j] != lab[q] && S[q * B + j] > p.margin)
                loss += (S[q * B + j] - p.margin) / nn / B, dS[q * B + j] += 1.0 / nn / B;
        }
    }
    return loss;
}

// Triplets (q, i, j) enumerated over the full cube.
static inline double ref_triplet(const double *S, const int *lab, int B, RefParams p, double *dS) {
    double loss = 0;
    memset(dS, 0, sizeof(double) * B * B);
    int Q = 0;
    for (int q = 0; q < B; q++) {
        int np = 0, nn = 0;
        for (int j = 0; j < B; j++)
            np += j != q && lab[j] == lab[q], nn += lab[j] != lab[q];
        Q += np > 0 && nn > 0;
    }
    for (int q = 0; q < B; q++) {
        int np = 0, nn = 0;
        for (int j = 0; j < B; j++)
            np += j != q && lab[j] == lab[q], nn += lab[j] != lab[q];
        if (!np || !nn) continue;
        for (int i = 0; i < B; i++) {
            if (i == q || lab[i] != lab[q]) continue;
            if (!p.semihard) {
                for (int j = 0; j < B; j++) {
                    if (lab[j] == lab[q]) continue;
                    double v = S[q * B + j] - S[q * B + i] + p.margin;
                    if (v > 0) {
                        double c = 1.0 / ((double)np * nn) / Q;
                        loss += v * c, dS[q * B + j] += c, dS[q * B + i] -= c;
                    }
                }
            } else {
                // semi-hard: hardest negative among those less similar than i; else the easiest one
                int n = -1;
                for (int j = 0; j < B; j++)
                    if (lab[j] != lab[q] && S[q * B + j] < S[q * B + i] &&
                        (n < 0 || S[q * B + j] > S[q * B + n]))
                        n = j;
                if (n < 0)
                    for (int j = 0; j < B; j++)
                        if (lab[j] != lab[q] && (n < 0 || S[q * B + j] < S[q * B + n])) n = j;
                double v = S[q * B + n] - S[q * B + i] + p.margin;
                if (v > 0) loss += v / np / Q, dS[q * B + n] += 1.0 / np / Q, dS[q * B + i] -= 1.0 / np / Q;
            }
        }
    }
    return loss;
}

// Multi-similarity with mining, plain exp/log in long double (range to e^11356: non-normalised test
// inputs with beta = 50 stay finite without the library's max shift).
static inline double ref_multisim(const double *S, const int *lab, int B, RefParams p, double *dS) {
    double loss = 0;
    memset(dS, 0, sizeof(double) * B * B);
    for (int q = 0; q < B; q++) {
        double minp = 1e300, maxn = -1e300;
        for (int j = 0; j < B; j++) {
            if (j == q) continue;
            if (lab[j] == lab[q])
                minp = fmin(minp, S[q * B + j]);
            else
                maxn = fmax(maxn, S[q * B + j]);
        }
        if (minp == 1e300 || maxn == -1e300) continue;
        long double sp = 0, sn = 0;
        int kp = 0, kn = 0;
        for (int j = 0; j < B; j++) {
            if (j == q) continue;
            double s = S[q * B + j];
            if (lab[j] == lab[q] && s - p.ms_margin < maxn) sp += expl(-p.ms_alpha * (s - p.ms_lambda)), kp++;
            if (lab[j] != lab[q] && s + p.ms_margin > minp) sn += expl(p.ms_beta * (s - p.ms_lambda)), kn++;
        }
        if (!kp || !kn) continue;
        loss += (double)((logl(1 + sp) / p.ms_alpha + logl(1 + sn) / p.ms_beta) / B);
        for (int j = 0; j < B; j++) {
            if (j == q) continue;
            double s = S[q * B + j];
            if (lab[j] == lab[q] && s - p.ms_margin < maxn)
                dS[q * B + j] -= (double)(expl(-p.ms_alpha * (s - p.ms_lambda)) / (1 + sp) / B);
            if (lab[j] != lab[q] && s + p.ms_margin > minp)
                dS[q * B + j] += (double)(expl(p.ms_beta * (s - p.ms_lambda)) / (1 + sn) / B);
        }
    }
    return loss;
}

// loss and grad [B, D] = d loss / d E of the loss `name` at E [B, D] (float64), queries = rows [0, NQ) of E, the
// gallery all B rows (NQ < B: a cross-batch memory of B - NQ rows; smoothap, pnp-* and recallk only).
static inline double ref_loss_grad_gallery(const char *name, RefParams p, const double *E, const int *lab, int NQ,
                                           int B, int D, double *grad) {
    double *S = malloc(sizeof(double) * B * B), *dS = malloc(sizeof(double) * B * B);
    for (int q = 0; q < B; q++)
        for (int j = 0; j < B; j++) {
            double s = 0;
            for (int d = 0; d < D; d++)
                s += E[q * D + d] * E[j * D + d];
            S[q * B + j] = s;
        }
    double loss;
    if (!strcmp(name, "smoothap"))
        loss = ref_smoothap(S, lab, NQ, B, p, dS);
    else if (!strncmp(name, "pnp-", 4))
        loss = ref_pnp(name, S, lab, NQ, B, p, dS);
    else if (!strcmp(name, "contrastive"))
        loss = ref_contrastive(S, lab, B, p, dS);
    else if (!strcmp(name, "triplet"))
        loss = ref_triplet(S, lab, B, p, dS);
    else if (!strcmp(name, "recallk"))
        loss = ref_recallk(S, lab, NQ, B, p, dS);
    else
        loss = ref_multisim(S, lab, B, p, dS);
    // S_qj = <e_q, e_j>: d/de_a = sum_j dS_aj e_j + sum_q dS_qa e_q
    for (int a = 0; a < B; a++)
        for (int d = 0; d < D; d++) {
            double g = 0;
            for (int j = 0; j < B; j++)
                g += dS[a * B + j] * E[j * D + d] + dS[j * B + a] * E[j * D + d];
            grad[a * D + d] = g;
        }
    free(S), free(dS);
    return loss;
}

// The loss `name` with every row a query (the batch alone is the gallery).
static inline double ref_loss_grad(const char *name, RefParams p, const double *E, const int *lab, int B, int D,
                                   double *grad) {
    return ref_loss_grad_gallery(name, p, E, lab, B, B, D, grad);
}

// Test data: splitmix64 uniforms, Box-Muller normals.
static inline double ref_uniform(unsigned long long *st) {
    unsigned long long z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static inline double ref_normal(unsigned long long *st) {
    double u = ref_uniform(st), v = ref_uniform(st);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

// A batch of C classes x m samples in SHUFFLED order with scattered label values (negative ones
// too); rows are L2-normalised when `normalise`. E: [C*m, D]; labels: [C*m].
static inline void ref_make_batch(unsigned long long seed, int C, int m, int D, int normalise, double *E,
                                  int *labels) {
    unsigned long long st = seed;
    int B = C * m;
    for (int i = 0; i < B; i++)
        labels[i] = 37 * (i / m) - 100;
    for (int i = B - 1; i > 0; i--) { // Fisher-Yates
        int k = (int)(ref_uniform(&st) * (i + 1));
        int t = labels[i];
        labels[i] = labels[k], labels[k] = t;
    }
    for (int i = 0; i < B; i++) {
        double n = 0;
        // a class-dependent mean makes positives more similar, so rankings are not trivial noise
        for (int d = 0; d < D; d++) {
            double mu = sin(0.7 * labels[i] + 1.3 * d);
            E[i * D + d] = 0.8 * mu + ref_normal(&st);
            n += E[i * D + d] * E[i * D + d];
        }
        if (normalise)
            for (int d = 0; d < D; d++)
                E[i * D + d] /= sqrt(n);
    }
}
