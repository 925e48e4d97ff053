// test_loss_pair.c — the decomposition the fused CUDA loss kernels use (src/loss/loss_pair.h: per-pair
// sums, then a per-(q, j) gather of the gradient), run on the HOST through the very same functions and
// compared with the CPU losses (apt_loss_compute, float32). It needs no GPU: it proves the algorithm of
// cuda_loss.cu, whose kernels are loops around these functions (what it cannot prove is the CUDA
// scaffolding: launches, block reductions, cuBLAS calls — test_loss_cuda checks those on a device).
//
// Same inputs as test_loss_cuda: "dyadic" entries k/256 (|k| <= 16, D <= 32), so every similarity is exact
// in float32 and both sides see the same S; the remaining differences are G in float vs double (1e-7
// relative) and sums in another order: loss and dE within 1e-5 relative (dE: of its max). Every loss
// (smoothap both semantics, pnp-o/ds/dq/iu/ib, recallk), unsorted labels with unequal classes and a singleton,
// partial query ranges. The loss list is every row of loss_names.h with a CUDA kernel family.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loss/loss.h"
#include "backend/cpu/cpu_loss.h"
#include "loss/loss.h"
#include "loss/loss_pair.h"

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

// The kernels' pipeline on the host. E: [B, D]; labels: [B]; queries [q0, q1). Returns loss_part.
static double pair_pipeline(const AptLossParams *p, const float *E, const int *labels, int B, int D, int q0,
                            int q1, float *dE) {
    // Label grouping as cuda_loss.cu's host side: classes in order of first label value, rows ascending.
    int *perm = malloc(B * sizeof *perm), *grp_of = malloc(B * sizeof *grp_of),
        *rank = malloc(B * sizeof *rank);
    int *start = malloc((B + 1) * sizeof *start), ng = 0;
    char *done = calloc(B, 1);
    for (int a = 0, k = 0; a < B; a++) { // O(B^2) is fine for a test; any class order works
        if (done[a]) continue;
        start[ng] = k;
        for (int j = a, r = 0; j < B; j++)
            if (!done[j] && labels[j] == labels[a]) {
                done[j] = 1;
                perm[k++] = j;
                grp_of[j] = ng;
                rank[j] = r++;
            }
        ng++;
    }
    start[ng] = B;
    long long nvalid = 0;
    for (int g = 0; g < ng; g++) {
        int npos = start[g + 1] - start[g];
        if (!p->impl->counts || p->impl->counts(p, npos, B)) nvalid += npos;
    }
    AptLossPairK k = {.kind = apt_lp_kind_of(p->impl->id),
                      .variant = p->impl->variant,
                      .self = p->include_self,
                      .inv_tau = 1.0 / p->tau,
                      .alpha = p->alpha,
                      .b = p->b,
                      .w = nvalid > 0 ? 1.0 / (double)nvalid : 0.0};
    apt_lp_set_recallk(&k, p, B);
    float *row = malloc(B * sizeof *row), *si = malloc(B * sizeof *si);
    double *c1 = malloc(B * sizeof(double)), *c2 = malloc(B * sizeof(double)),
           *acc = malloc(B * sizeof(double));
    double *term = malloc(B * sizeof(double)), *dEd = calloc((size_t)B * D, sizeof(double)), loss = 0.0;
    for (int q = q0; q < q1; q++) {
        for (int j = 0; j < B; j++) { // S row, exact for dyadic inputs
            double s = 0;
            for (int d = 0; d < D; d++)
                s += (double)E[(size_t)q * D + d] * E[(size_t)j * D + d];
            row[j] = (float)s;
        }
        const int g = grp_of[q], npos = start[g + 1] - start[g];
        const int *pos = perm + start[g];
        for (int kk = 0; kk < npos; kk++) { // pass 1
            const int i = pos[kk];
            si[kk] = row[i];
            if (!apt_lp_pair_scored(&k, q, i)) {
                c1[kk] = c2[kk] = acc[kk] = term[kk] = 0.0;
                continue;
            }
            double sums[4] = {0, 0, 0, 0};
            for (int j = 0; j < B; j++)
                apt_lp_pair_accum(&k, q, i, j, grp_of[j] == g, row[j], si[kk], sums);
            apt_lp_pair_finish(&k, npos, sums, &c1[kk], &c2[kk], &acc[kk], &term[kk]);
        }
        loss += apt_lp_query_finish(&k, q, npos, pos, term, c1, acc);
        for (int j = 0; j < B; j++) { // pass 2, then the two GEMMs' work for this query row
            const bool same = grp_of[j] == g;
            const float gs =
                (float)apt_lp_grad(&k, q, j, same, row[j], npos, pos, si, c1, c2, acc, same ? rank[j] : 0);
            for (int d = 0; d < D; d++) {
                dEd[(size_t)j * D + d] += (double)gs * E[(size_t)q * D + d];
                dEd[(size_t)q * D + d] += (double)gs * E[(size_t)j * D + d];
            }
        }
    }
    for (size_t x = 0; x < (size_t)B * D; x++)
        dE[x] = (float)dEd[x];
    free(perm), free(grp_of), free(rank), free(start), free(done), free(row), free(si);
    free(c1), free(c2), free(acc), free(term), free(dEd);
    return loss;
}

static void run_case(int B, int D, int m, int q0, int q1, uint64_t seed) {
    // Every loss of loss_names.h with a CUDA path, plus smoothap with the paper's semantics.
#define PAIR_CASE_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) {NAME, 1, APT_LP_##CUDA},
    static const struct {
        const char *name;
        int include_self, kind;
    } CASES[] = {APT_LOSS_TABLE(PAIR_CASE_){"smoothap", 0, APT_LP_SMOOTHAP}};
#undef PAIR_CASE_
    float *E = malloc((size_t)B * D * sizeof *E), *dE_cpu = malloc((size_t)B * D * 4),
          *dE_pair = malloc((size_t)B * D * 4);
    int *labels = malloc(B * sizeof *labels);
    uint64_t s = seed;
    for (size_t x = 0; x < (size_t)B * D; x++)
        E[x] = (float)((int)(lcg(&s) % 33) - 16) / 256.0f;
    for (int r = 0; r < B; r++)
        labels[r] = 1000 - 7 * (r / m);
    for (int r = B - 1; r > 0; r--) {
        int j = (int)(lcg(&s) % (uint64_t)(r + 1)), t = labels[r];
        labels[r] = labels[j];
        labels[j] = t;
    }
    AptLossWorkspace *ws = apt_loss_workspace_create(q1 - q0, B, D, APT_F32);
    for (int li = 0; li < (int)(sizeof CASES / sizeof CASES[0]); li++) {
        if (CASES[li].kind == APT_LP_NONE) continue;
        const char *name = CASES[li].name;
        AptLossParams p;
        apt_loss_params_default(&p, name);
        p.include_self = CASES[li].include_self;
        AptLossIn in = {.E = E, .labels = labels, .B = B, .D = D, .q_begin = q0, .q_end = q1};
        AptLossOut out = {.dE = dE_cpu};
        apt_loss_compute(ws, &p, &in, &out);
        double lp = pair_pipeline(&p, E, labels, B, D, q0, q1, dE_pair);
        double rel = fabs(lp - out.loss_part) / (fabs(out.loss_part) > 1e-30 ? fabs(out.loss_part) : 1.0);
        char label[128];
        snprintf(label, sizeof label, "%s%s B%d m%d q[%d,%d)", name, p.include_self ? "" : "(exclude-self)",
                 B, m, q0, q1);
        TEST_CHECK(rel <= 1e-5, "%s: loss pair-pipeline %.17g cpu %.17g (rel %.3g)", label, lp, out.loss_part,
                   rel);
        printf("     %s: loss %.10g rel err %.3g\n", label, out.loss_part, rel);
        double scale = 0;
        for (size_t x = 0; x < (size_t)B * D; x++)
            scale = fabs(dE_cpu[x]) > scale ? fabs(dE_cpu[x]) : scale;
        char l2[160];
        snprintf(l2, sizeof l2, "%s dE", label);
        expect_close_f(dE_pair, dE_cpu, (size_t)B * D, 1e-5, 1e-5 * (scale > 0 ? scale : 1.0), l2);
    }
    apt_loss_workspace_free(ws);
    free(E), free(dE_cpu), free(dE_pair), free(labels);
}

int main(void) {
    run_case(37, 24, 4, 0, 37, 1); // classes of 4 and a singleton
    run_case(37, 24, 4, 9, 28, 2); // one rank's query range
    run_case(130, 17, 13, 3, 130, 4);
    run_case(64, 32, 2, 0, 64, 5); // pairs: the paper's smoothap has one positive per query
    return apt_test_finish("test_loss_pair");
}
