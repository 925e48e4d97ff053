// simix.c — SiMix for the Recall@k surrogate (simix.h): the pair order, the per-step plan, the float64
// host path (references) and the training path through the backend's mix_rows / loss_compute ops.
#include "simix.h"

#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/rng.h"

int apt_simix_pair_count(int m) {
    return m > 1 ? m * (m - 1) / 2 : 0;
}

int apt_simix_rows(int B, int m) {
    return m > 0 ? (B / m) * apt_simix_pair_count(m) : 0;
}

// The official pos_mixup (src/mixup.py) spells out m = 3, 4, 6 pair by pair; m = 4 is the one whose
// order after the consecutive pairs is not lexicographic: fake_4 (0, 3), fake_5 (0, 2), fake_6 (1, 3).
void apt_simix_pair(int m, int p, int *i, int *j) {
    APT_CHECK(m > 1 && p >= 0 && p < apt_simix_pair_count(m), "simix: pair %d of a class of %d", p, m);
    if (m == 4) {
        static const int t4[6][2] = {{0, 1}, {1, 2}, {2, 3}, {0, 3}, {0, 2}, {1, 3}};
        *i = t4[p][0], *j = t4[p][1];
        return;
    }
    if (p < m - 1) { // consecutive pairs first
        *i = p, *j = p + 1;
        return;
    }
    p -= m - 1; // then (a, b) with b >= a + 2, lexicographic
    for (int a = 0; a < m; a++) {
        const int n = m - a - 2; // pairs (a, a + 2 .. m - 1)
        if (n > 0 && p < n) {
            *i = a, *j = a + 2 + p;
            return;
        }
        if (n > 0) p -= n;
    }
    apt_fatal(__FILE__, __LINE__, "simix: pair order");
}

AptSimixPlan *apt_simix_plan_create(int B, int W, int V_max) {
    APT_CHECK(B > 0 && W > 0 && B % W == 0 && V_max >= 0, "simix: B %d on %d ranks, V_max %d", B, W, V_max);
    AptSimixPlan *pl = apt_calloc(1, sizeof *pl);
    const size_t n = (size_t)B + (size_t)V_max;
    pl->B = B;
    pl->W = W;
    pl->V_max = V_max;
    pl->labels = apt_malloc(n * sizeof(int));
    pl->src = apt_malloc(2 * n * sizeof(int));
    pl->alpha = apt_malloc(n * sizeof(double));
    pl->start = apt_malloc(((size_t)B + 1) * sizeof(int));
    pl->ent = apt_malloc(((size_t)B + 2 * (size_t)V_max) * sizeof(int));
    pl->q_begin = apt_malloc((size_t)W * sizeof(int));
    pl->q_end = apt_malloc((size_t)W * sizeof(int));
    pl->pi = apt_malloc(((size_t)V_max + 1) * sizeof(int));
    pl->pj = apt_malloc(((size_t)V_max + 1) * sizeof(int));
    pl->keys = apt_malloc((size_t)B * sizeof(uint64_t));
    pl->perm = apt_malloc((size_t)B * sizeof(int));
    pl->gstart = apt_malloc(((size_t)B + 1) * sizeof(int));
    pl->gorder = apt_malloc((size_t)B * sizeof(int));
    return pl;
}

void apt_simix_plan_free(AptSimixPlan *pl) {
    if (!pl) return;
    free(pl->labels), free(pl->src), free(pl->alpha), free(pl->start), free(pl->ent);
    free(pl->q_begin), free(pl->q_end), free(pl->pi), free(pl->pj);
    free(pl->keys), free(pl->perm), free(pl->gstart), free(pl->gorder);
    free(pl);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void apt_simix_plan_build(AptSimixPlan *pl, const int *labels, const double *alpha_in, uint64_t seed,
                          uint32_t epoch, uint32_t step) {
    const int B = pl->B, W = pl->W, b = B / W;
    // Classes: rows sorted by (label, row), then the classes ordered by their first row.
    for (int j = 0; j < B; j++)
        pl->keys[j] = ((uint64_t)((uint32_t)labels[j] ^ 0x80000000u) << 32) | (uint32_t)j;
    qsort(pl->keys, (size_t)B, sizeof(uint64_t), cmp_u64);
    int ng = 0;
    for (int k = 0; k < B; k++) {
        pl->perm[k] = (int)(uint32_t)pl->keys[k];
        if (k == 0 || (pl->keys[k] >> 32) != (pl->keys[k - 1] >> 32)) pl->gstart[ng++] = k;
    }
    pl->gstart[ng] = B;
    // Classes by their first row: keys (no longer needed for the rows) become (first row, class) pairs.
    for (int g = 0; g < ng; g++)
        pl->keys[g] = ((uint64_t)(uint32_t)pl->perm[pl->gstart[g]] << 32) | (uint32_t)g;
    qsort(pl->keys, (size_t)ng, sizeof(uint64_t), cmp_u64);
    for (int c = 0; c < ng; c++)
        pl->gorder[c] = (int)(uint32_t)pl->keys[c];
    // Pairs in pair order: class by class, the class's pairs in apt_simix_pair's order.
    int V = 0;
    for (int c = 0; c < ng; c++) {
        const int g = pl->gorder[c], m = pl->gstart[g + 1] - pl->gstart[g];
        const int np = apt_simix_pair_count(m);
        APT_CHECK(V + np <= pl->V_max,
                  "simix: the batch needs more than %d virtual rows (a class of %d rows)", pl->V_max, m);
        for (int p = 0; p < np; p++) {
            int i, j;
            apt_simix_pair(m, p, &i, &j);
            pl->pi[V] = pl->perm[pl->gstart[g] + i];
            pl->pj[V] = pl->perm[pl->gstart[g] + j];
            V++;
        }
    }
    pl->V = V;
    pl->n = B + V;
    // Layout: rank r's real rows [r b, (r + 1) b), then its virtual rows [v0, v1) = [r V / W, (r + 1) V / W).
    for (int r = 0; r < W; r++) {
        const int v0 = (int)((long long)r * V / W), v1 = (int)((long long)(r + 1) * V / W);
        const int off = r * b + v0;
        pl->q_begin[r] = off;
        pl->q_end[r] = off + b + (v1 - v0);
        for (int t = r * b; t < (r + 1) * b; t++) { // real rows: copies
            const int x = t + v0;
            pl->src[2 * x] = pl->src[2 * x + 1] = t;
            pl->alpha[x] = 1.0;
            pl->labels[x] = labels[t];
        }
        for (int v = v0; v < v1; v++) { // virtual rows
            const int x = (r + 1) * b + v;
            double a;
            if (alpha_in) {
                a = alpha_in[v];
            } else { // 24 random bits: exact in float32, so the training path's float alpha is this value
                AptRng4 d = apt_rng_block(seed, APT_RNG_SIMIX, epoch, step, (uint32_t)v, 0);
                a = (double)apt_rng_u32_to_float(d.v[0]);
            }
            pl->src[2 * x] = pl->pi[v];
            pl->src[2 * x + 1] = pl->pj[v];
            pl->alpha[x] = a;
            pl->labels[x] = labels[pl->pi[v]];
        }
    }
    // The fold: per real row, its copy, then the virtual rows it is a source of, in pair order.
    for (int t = 0; t <= B; t++)
        pl->start[t] = 0;
    for (int v = 0; v < V; v++)
        pl->start[pl->pi[v] + 1]++, pl->start[pl->pj[v] + 1]++;
    for (int t = 0; t < B; t++)
        pl->start[t + 1] += pl->start[t] + 1; // + 1: the copy
    int *fill = pl->gorder;                   // reused as the per-row write position
    for (int t = 0; t < B; t++) {
        const int r = t / b, x = t + (int)((long long)r * V / W);
        pl->ent[pl->start[t]] = 2 * x;
        fill[t] = pl->start[t] + 1;
    }
    for (int r = 0, v = 0; r < W; r++) {
        const int v1 = (int)((long long)(r + 1) * V / W);
        for (; v < v1; v++) {
            const int x = (r + 1) * b + v;
            pl->ent[fill[pl->pi[v]]++] = 2 * x;
            pl->ent[fill[pl->pj[v]]++] = 2 * x + 1;
        }
    }
}

void apt_simix_mix_f64(const AptSimixPlan *pl, int D, const double *E, double *Ex) {
    for (int x = 0; x < pl->n; x++) {
        const double a = pl->alpha[x];
        const double *ei = E + (size_t)pl->src[2 * x] * D, *ej = E + (size_t)pl->src[2 * x + 1] * D;
        for (int d = 0; d < D; d++)
            Ex[(size_t)x * D + d] = a * ei[d] + (1.0 - a) * ej[d];
    }
}

void apt_simix_fold_f64(const AptSimixPlan *pl, int D, const double *dEx, double *dE) {
    for (int t = 0; t < pl->B; t++) {
        double *o = dE + (size_t)t * D;
        memset(o, 0, (size_t)D * sizeof(double));
        for (int e = pl->start[t]; e < pl->start[t + 1]; e++) {
            const int x = pl->ent[e] >> 1;
            const double c = (pl->ent[e] & 1) ? 1.0 - pl->alpha[x] : pl->alpha[x];
            for (int d = 0; d < D; d++)
                o[d] += c * dEx[(size_t)x * D + d];
        }
    }
}

double apt_simix_loss_f64(AptLossWorkspace *ws, const AptLossParams *p, const AptSimixPlan *pl,
                          const double *E, int D, double *Ex, double *dEx, double *dE) {
    APT_CHECK(pl->W == 1, "simix: the float64 path runs one process (plan for %d ranks)", pl->W);
    AptLossParams px = *p;
    px.recallk_k_rows = pl->B; // k clipped to the real batch, as the official min(bs, k)
    apt_simix_mix_f64(pl, D, E, Ex);
    AptLossOut out = {.dE64 = dEx};
    apt_loss_compute(
        ws, &px,
        &(AptLossIn){.E64 = Ex, .labels = pl->labels, .B = pl->n, .D = D, .q_begin = 0, .q_end = pl->n},
        &out);
    apt_simix_fold_f64(pl, D, dEx, dE);
    return out.loss_part;
}

// ---- training path ----
struct AptSimix {
    AptBackend *be;
    AptSimixPlan *pl;
    int B, D;
    float *Ex, *dEx; // [B + V_max, D] backend memory
    int *src_d;      // [2 (B + V_max)] backend memory
    int *start_d;    // [B + 1]
    int *ent_d;      // [B + 2 V_max]
    float *alpha_d;  // [B + V_max]
    float *alpha_h;  // host staging of alpha in float32
};

int apt_simix_b_max(int B, int W, int V_max) {
    return B / W + (V_max + W - 1) / W;
}

AptSimix *apt_simix_create(AptBackend *be, int B, int W, int D, int V_max) {
    AptSimix *s = apt_calloc(1, sizeof *s);
    s->be = be;
    s->pl = apt_simix_plan_create(B, W, V_max);
    s->B = B;
    s->D = D;
    const size_t n = (size_t)B + (size_t)V_max;
    s->Ex = be->alloc(be, n * D * sizeof(float));
    s->dEx = be->alloc(be, n * D * sizeof(float));
    s->src_d = be->alloc(be, 2 * n * sizeof(int));
    s->start_d = be->alloc(be, ((size_t)B + 1) * sizeof(int));
    s->ent_d = be->alloc(be, ((size_t)B + 2 * (size_t)V_max) * sizeof(int));
    s->alpha_d = be->alloc(be, n * sizeof(float));
    s->alpha_h = apt_malloc(n * sizeof(float));
    return s;
}

void apt_simix_free(AptSimix *s) {
    if (!s) return;
    AptBackend *be = s->be;
    void *bufs[] = {s->Ex, s->dEx, s->src_d, s->start_d, s->ent_d, s->alpha_d};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        be->free(be, bufs[i]);
    free(s->alpha_h);
    apt_simix_plan_free(s->pl);
    free(s);
}

const AptSimixPlan *apt_simix_plan(const AptSimix *s) {
    return s->pl;
}

void apt_simix_loss_compute(AptSimix *s, void *ws, const AptLossParams *p, const float *E, const int *labels,
                            int rank, uint64_t seed, uint32_t epoch, uint32_t step, float *dE,
                            double *loss_part) {
    AptBackend *be = s->be;
    AptSimixPlan *pl = s->pl;
    const int D = s->D;
    APT_CHECK(rank >= 0 && rank < pl->W, "simix: rank %d of %d", rank, pl->W);
    apt_simix_plan_build(pl, labels, NULL, seed, epoch, step);
    const int n = pl->n;
    for (int x = 0; x < n; x++)
        s->alpha_h[x] = (float)pl->alpha[x]; // exact: 24-bit draws and 1
    be->copy(be, s->src_d, pl->src, 2 * (size_t)n * sizeof(int), APT_COPY_H2D);
    be->copy(be, s->start_d, pl->start, ((size_t)s->B + 1) * sizeof(int), APT_COPY_H2D);
    be->copy(be, s->ent_d, pl->ent, ((size_t)s->B + 2 * (size_t)pl->V) * sizeof(int), APT_COPY_H2D);
    be->copy(be, s->alpha_d, s->alpha_h, (size_t)n * sizeof(float), APT_COPY_H2D);
    be->mix_rows(be, n, D, s->src_d, s->alpha_d, E, s->Ex);
    AptLossParams px = *p;
    px.recallk_k_rows = s->B; // k clipped to the real batch, as the official min(bs, k)
    be->loss_compute(be, ws, &px, s->Ex, pl->labels, n, D, pl->q_begin[rank], pl->q_end[rank], s->dEx,
                     loss_part);
    be->mix_rows_backward(be, s->B, D, s->start_d, s->ent_d, s->alpha_d, s->dEx, dE);
}
