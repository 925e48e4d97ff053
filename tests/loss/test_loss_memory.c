// test_loss_memory.c — the ranking losses with a cross-batch memory (loss.memory, src/train/xbm.c): queries are
// the B batch rows, the gallery the B batch rows plus M memory rows (gallery only, detached), on the CPU driver.
//
// Checked against:
//  - the naive float64 reference of loss_ref.h evaluated with queries = rows [0, B) and gallery = all B + M rows
//    (ref_loss_grad_gallery): loss and d loss / d E of the batch rows. Tolerances as test_losses.c: float64
//    1e-9 relative (both float64, different summation order), float32 1e-4 relative (sgemm S divided by tau).
//  - central differences of our float64 loss (h = 1e-6, tau = 0.05) for the batch rows: 1e-5 relative +
//    1e-6 max|grad| (truncation ~h^2 / tau^3);
//  - the sum of query ranges (what W ranks compute) and of query blocks (the 3-GEMM path in small blocks) against
//    one call over all queries: 1e-12 relative (summation order only);
//  - memory rows are detached: the driver writes dE for the B batch rows only, rows past B stay untouched.
//  - the CPU table's op: memory_rows 0 is bitwise the plain loss; memory_rows M is the driver's M.
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "backend/backend.h"
#include "loss/loss.h"
#include "loss_ref.h"

typedef struct {
    const char *label, *name;
    int include_self;
} Case;

static const Case CASES[] = {
    {"smoothap", "smoothap", 1}, {"smoothap-exclude-self", "smoothap", 0},
    {"pnp-o", "pnp-o", 1},       {"pnp-ds", "pnp-ds", 1},
    {"pnp-dq", "pnp-dq", 1},     {"pnp-iu", "pnp-iu", 1},
    {"pnp-ib", "pnp-ib", 1},     {"recallk", "recallk", 1},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static void make_params(const Case *c, double tau, AptLossParams *p, RefParams *rp) {
    TEST_CHECK(apt_loss_params_default(p, c->name), "known loss %s", c->name);
    *rp = ref_defaults(c->name);
    p->tau = rp->tau = tau;
    rp->include_self = c->include_self;
    p->include_self = c->include_self != 0;
}

// Our loss for queries [q0, q1) of the B batch rows, gallery = E's B + M rows; grad [B, D] in double.
static double ours(const AptLossParams *p, const double *E, const int *lab, int B, int M, int D, int q0, int q1,
                   int f32, int rows, double *grad) {
    double loss;
    const int G = B + M;
    AptLossWorkspace *ws = apt_loss_workspace_create(B, G, D, f32 ? APT_F32 : APT_F64);
    if (rows) apt_loss_workspace_set_block_rows(ws, rows);
    if (f32) {
        float *Ef = malloc(sizeof(float) * G * D), *dEf = malloc(sizeof(float) * (B + 1) * D);
        for (int i = 0; i < G * D; i++)
            Ef[i] = (float)E[i];
        for (int i = 0; i < D; i++)
            dEf[B * D + i] = 12345.0f; // a row past B: must stay untouched (memory rows get no gradient)
        AptLossIn in = {.E = Ef, .labels = lab, .B = B, .D = D, .q_begin = q0, .q_end = q1, .M = M};
        AptLossOut out = {.dE = dEf};
        apt_loss_compute(ws, p, &in, &out);
        for (int i = 0; i < B * D; i++)
            grad[i] = dEf[i];
        for (int i = 0; i < D; i++)
            TEST_CHECK(dEf[B * D + i] == 12345.0f, "dE row past the batch written (col %d)", i);
        loss = out.loss_part;
        free(Ef), free(dEf);
    } else {
        AptLossIn in = {.E64 = E, .labels = lab, .B = B, .D = D, .q_begin = q0, .q_end = q1, .M = M};
        AptLossOut out = {.dE64 = grad};
        apt_loss_compute(ws, p, &in, &out);
        loss = out.loss_part;
    }
    apt_loss_workspace_free(ws);
    return loss;
}

static double max_abs(const double *a, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

// The batch (C classes x m) then a memory of Cm classes x m rows from another draw: its first C classes are
// the batch's (positives in the memory), the rest are classes the batch does not have.
enum { C = 6, m = 3, B = C * m, Cm = 12, M = Cm * m, G = B + M, D = 16 };
static double E[G * D];
static int lab[G];

static void make_gallery(unsigned long long seed) {
    ref_make_batch(seed, C, m, D, 1, E, lab);
    ref_make_batch(seed + 100, Cm, m, D, 1, E + B * D, lab + B);
}

static void test_vs_ref(void) {
    static double g[B * D], rg[G * D];
    const double taus[2] = {0.01, 0.05};
    for (int k = 0; k < NCASES; k++)
        for (int t = 0; t < 2; t++) {
            AptLossParams p;
            RefParams rp;
            make_params(&CASES[k], taus[t], &p, &rp);
            double rl = ref_loss_grad_gallery(CASES[k].name, rp, E, lab, B, G, D, rg);
            const double gm = max_abs(rg, B * D);
            char what[128];
            for (int f32 = 0; f32 < 2; f32++) {
                const double rtol = f32 ? 1e-4 : 1e-9;
                double l = ours(&p, E, lab, B, M, D, 0, B, f32, 0, g);
                snprintf(what, sizeof what, "%s tau=%g memory %d %s loss", CASES[k].label, taus[t], M,
                         f32 ? "f32" : "f64");
                expect_close_d(&l, &rl, 1, rtol, 1e-300, what);
                snprintf(what, sizeof what, "%s tau=%g memory %d %s grad", CASES[k].label, taus[t], M,
                         f32 ? "f32" : "f64");
                expect_close_d(g, rg, B * D, rtol, rtol * gm + 1e-300, what);
            }
            // The memory matters: without it the loss differs (the reference over the batch alone).
            static double rg0[B * D];
            double rl0 = ref_loss_grad(CASES[k].name, rp, E, lab, B, D, rg0);
            TEST_CHECK(fabs(rl0 - rl) > 1e-6 * fabs(rl), "%s: the memory changes the loss (%g vs %g)",
                       CASES[k].label, rl, rl0);
            printf("     %-22s tau=%-5g loss batch only %.6f, with memory %.6f\n", CASES[k].label, taus[t], rl0, rl);
        }
}

static void test_finite_differences(void) {
    static double g[B * D], tmp[B * D], fd[B * D];
    const double h = 1e-6;
    for (int k = 0; k < NCASES; k++) {
        AptLossParams p;
        RefParams rp;
        make_params(&CASES[k], 0.05, &p, &rp);
        ours(&p, E, lab, B, M, D, 0, B, 0, 0, g);
        for (int i = 0; i < B * D; i++) { // batch rows only: the memory is detached
            double e0 = E[i];
            E[i] = e0 + h;
            double lp = ours(&p, E, lab, B, M, D, 0, B, 0, 0, tmp);
            E[i] = e0 - h;
            double lm = ours(&p, E, lab, B, M, D, 0, B, 0, 0, tmp);
            E[i] = e0;
            fd[i] = (lp - lm) / (2 * h);
        }
        char what[96];
        snprintf(what, sizeof what, "%s memory finite differences", CASES[k].label);
        expect_close_d(g, fd, B * D, 1e-5, 1e-6 * max_abs(fd, B * D), what);
    }
}

// W ranks each compute a query range; blocks of 4 rows take the 3-GEMM path in pieces.
static void test_partitions(void) {
    static double g[B * D], part[B * D], sum[B * D];
    for (int k = 0; k < NCASES; k++) {
        AptLossParams p;
        RefParams rp;
        make_params(&CASES[k], 0.01, &p, &rp);
        double l = ours(&p, E, lab, B, M, D, 0, B, 0, 0, g);
        for (int W = 2; W <= 3; W++) {
            memset(sum, 0, sizeof sum);
            double ls = 0;
            for (int r = 0; r < W; r++) {
                ls += ours(&p, E, lab, B, M, D, r * B / W, (r + 1) * B / W, 0, 0, part);
                for (int i = 0; i < B * D; i++)
                    sum[i] += part[i];
            }
            char what[96];
            snprintf(what, sizeof what, "%s memory W=%d ranges", CASES[k].label, W);
            expect_close_d(&ls, &l, 1, 1e-12, 1e-300, what);
            expect_close_d(sum, g, B * D, 1e-12, 1e-12 * max_abs(g, B * D), what);
        }
        double lb = ours(&p, E, lab, B, M, D, 0, B, 0, 4, part);
        char what[96];
        snprintf(what, sizeof what, "%s memory blocks of 4", CASES[k].label);
        expect_close_d(&lb, &l, 1, 1e-12, 1e-300, what);
        expect_close_d(part, g, B * D, 1e-12, 1e-12 * max_abs(g, B * D), what);
    }
}

// memory_rows = 0 on the CPU table's op is the plain loss, bit for bit (float32, the training path), also with
// a workspace sized for a memory; and memory_rows = M on the op is the driver's M.
static void test_op(void) {
    AptBackend *be = apt_backend_create_on("cpu", 0);
    AptLossParams p;
    RefParams rp;
    make_params(&CASES[0], 0.01, &p, &rp);
    static float Ef[G * D], d0[B * D], d1[B * D];
    static double g[B * D];
    for (int i = 0; i < G * D; i++)
        Ef[i] = (float)E[i];
    double *l = be->alloc(be, 2 * sizeof(double));
    void *ws0 = NULL, *ws1 = NULL;
    be->loss_create(be, &p, B, B, D, m, &ws0);
    be->loss_create(be, &p, B, G, D, G, &ws1);
    be->loss_compute(be, ws0, &p, Ef, lab, B, D, 0, B, d0, &l[0]);
    be->loss_compute(be, ws1, &p, Ef, lab, B, D, 0, B, d1, &l[1]);
    TEST_CHECK(l[0] == l[1] && !memcmp(d0, d1, sizeof d0), "memory_rows 0 is bitwise the plain loss");
    p.memory_rows = M;
    be->loss_compute(be, ws1, &p, Ef, lab, B, D, 0, B, d1, &l[1]);
    double ld = ours(&p, E, lab, B, M, D, 0, B, 1, 0, g);
    TEST_CHECK(l[1] == ld, "op with memory_rows %d = driver with M %d (%.17g vs %.17g)", M, M, l[1], ld);
    be->loss_free(be, ws0);
    be->loss_free(be, ws1);
    be->free(be, l);
    apt_backend_destroy(be);
}

int main(void) {
    make_gallery(11);
    test_vs_ref();
    test_finite_differences();
    test_partitions();
    test_op();
    // A memory with no positive of some queries' classes and a class only in the memory (singletons in the
    // batch: smoothap-exclude-self and recallk leave such queries out of the normaliser unless the memory
    // holds their class).
    make_gallery(12);
    lab[0] = 5000, lab[B + 1] = 5000; // one batch singleton whose only positive is in the memory
    lab[3] = 6000;                    // one batch singleton with no positive anywhere
    test_vs_ref();
    test_finite_differences();
    return apt_test_finish("test_loss_memory");
}
