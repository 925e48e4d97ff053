// test_losses.c — every loss against the naive O(B^3) float64 reference of loss_ref.h, against finite
// differences, and its distributed/determinism properties within one process.
//
// Tolerances (and why):
//  - float64 path vs reference: |diff| <= 1e-9 |ref| + 1e-9 max|ref grad|. Both sides are float64 and
//    sum O(B) terms in different orders, so agreement is ~1e-14; 1e-9 is the bound. The
//    max|ref| floor covers gradient entries that cancel to ~0.
//  - float32 path vs reference: 1e-4 relative (+ 1e-4 max|ref| floor). S comes from sgemm in float
//    (relative error ~1e-7 * sqrt(D)), divided by tau = 0.01 inside the sigmoid; dE is a float GEMM.
//  - finite differences (central, h = 1e-6, tau = 0.05): truncation ~h^2 / tau^3 ~ 1e-8 relative;
//    bound 1e-5 relative + 1e-6 max|grad|.
//  - sums of query ranges and query blocks: 1e-12 relative (only the summation order differs).
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "loss/loss.h"
#include "backend/cpu/cpu_loss.h"
#include "loss/loss.h"
#include "loss_ref.h"

typedef struct {
    const char *label, *name;
    int include_self, semihard;
} Case;

static const Case CASES[] = {
    {"smoothap", "smoothap", 1, 0}, {"smoothap-exclude-self", "smoothap", 0, 0},
    {"pnp-o", "pnp-o", 1, 0},       {"pnp-ds", "pnp-ds", 1, 0},
    {"pnp-dq", "pnp-dq", 1, 0},     {"pnp-iu", "pnp-iu", 1, 0},
    {"pnp-ib", "pnp-ib", 1, 0},     {"contrastive", "contrastive", 1, 0},
    {"triplet", "triplet", 1, 0},   {"triplet-semihard", "triplet", 1, 1},
    {"multisim", "multisim", 1, 0}, {"recallk", "recallk", 1, 0},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static void make_params(const Case *c, double tau, AptLossParams *p, RefParams *rp) {
    TEST_CHECK(apt_loss_params_default(p, c->name), "known loss %s", c->name);
    *rp = ref_defaults(c->name);
    p->tau = rp->tau = tau;
    rp->include_self = c->include_self;
    rp->semihard = c->semihard;
    p->include_self = c->include_self != 0;
    p->semihard = c->semihard != 0;
}

// Our loss on rows [q0, q1); grad [B, D] in double whatever the path.
static int block_rows = 0; // 0: the workspace's default (the symmetric path for a whole batch)

static double ours(const AptLossParams *p, const double *E, const int *lab, int B, int D, int q0, int q1,
                   int f32, double *grad) {
    double loss;
    AptLossWorkspace *ws = apt_loss_workspace_create(q1 > q0 ? q1 - q0 : 1, B, D, f32 ? APT_F32 : APT_F64);
    if (block_rows && block_rows < q1 - q0) apt_loss_workspace_set_block_rows(ws, block_rows);
    if (f32) {
        float *Ef = malloc(sizeof(float) * B * D), *dEf = malloc(sizeof(float) * B * D);
        for (int i = 0; i < B * D; i++)
            Ef[i] = (float)E[i];
        AptLossIn in = {.E = Ef, .labels = lab, .B = B, .D = D, .q_begin = q0, .q_end = q1};
        AptLossOut out = {.dE = dEf};
        apt_loss_compute(ws, p, &in, &out);
        for (int i = 0; i < B * D; i++)
            grad[i] = dEf[i];
        loss = out.loss_part;
        free(Ef), free(dEf);
    } else {
        AptLossIn in = {.E64 = E, .labels = lab, .B = B, .D = D, .q_begin = q0, .q_end = q1};
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

// Compare loss and gradient; returns max |diff| / max |ref| of the gradient for the report.
static double compare(const char *what, double loss, const double *g, double rloss, const double *rg, int n,
                      double rtol) {
    char lab[160];
    snprintf(lab, sizeof lab, "%s loss", what);
    expect_close_d(&loss, &rloss, 1, rtol, 1e-300, lab);
    snprintf(lab, sizeof lab, "%s grad", what);
    double gm = max_abs(rg, n);
    expect_close_d(g, rg, n, rtol, rtol * gm + 1e-300, lab);
    double worst = 0;
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs(g[i] - rg[i]));
    return gm > 0 ? worst / gm : worst;
}

// Loss and gradient of every case vs the reference on one batch, both precisions.
static void check_vs_ref(const char *batch, const double *E, const int *lab, int B, int D, double tau,
                         int with_f32) {
    double *g = malloc(sizeof(double) * B * D), *rg = malloc(sizeof(double) * B * D);
    for (int k = 0; k < NCASES; k++) {
        AptLossParams p;
        RefParams rp;
        make_params(&CASES[k], tau, &p, &rp);
        double rl = ref_loss_grad(CASES[k].name, rp, E, lab, B, D, rg);
        char what[128];
        snprintf(what, sizeof what, "%s %s tau=%g f64", CASES[k].label, batch, tau);
        double l = ours(&p, E, lab, B, D, 0, B, 0, g);
        double e64 = compare(what, l, g, rl, rg, B * D, 1e-9);
        if (with_f32) {
            snprintf(what, sizeof what, "%s %s tau=%g f32", CASES[k].label, batch, tau);
            l = ours(&p, E, lab, B, D, 0, B, 1, g);
            double e32 = compare(what, l, g, rl, rg, B * D, 1e-4);
            printf("     %-22s %-12s tau=%-6g grad err/max: f64 %.2e  f32 %.2e\n", CASES[k].label, batch, tau,
                   e64, e32);
        }
    }
    free(g), free(rg);
}

static void test_random_batches(void) {
    enum { C = 9, m = 4, B = C * m, D = 16 };
    double E[B * D];
    int lab[B];
    ref_make_batch(1, C, m, D, 1, E, lab);
    check_vs_ref("shuffled", E, lab, B, D, 0.01, 1);
    check_vs_ref("shuffled", E, lab, B, D, 0.05, 1);
    // uneven classes: two singletons (one taken from each of two classes) and classes of 3
    lab[0] = 999, lab[5] = -998;
    check_vs_ref("singletons", E, lab, B, D, 0.01, 1);
    // tau extremes: almost every sigmoid clamped (1e-4) and almost linear (10)
    check_vs_ref("shuffled", E, lab, B, D, 1e-4, 0);
    check_vs_ref("shuffled", E, lab, B, D, 10.0, 1);
    // non-normalised input (norms ~4.5), used as given
    ref_make_batch(2, C, m, D, 0, E, lab);
    check_vs_ref("unnormalised", E, lab, B, D, 0.5, 0);
}

// Central differences of our float64 loss: an independent check of the hand-derived gradients.
static void test_finite_differences(void) {
    enum { C = 4, m = 3, B = C * m, D = 5 };
    double E[B * D], g[B * D], fd[B * D], tmp[B * D];
    int lab[B];
    ref_make_batch(3, C, m, D, 1, E, lab);
    const double h = 1e-6;
    for (int k = 0; k < NCASES; k++) {
        AptLossParams p;
        RefParams rp;
        make_params(&CASES[k], 0.05, &p, &rp);
        ours(&p, E, lab, B, D, 0, B, 0, g);
        for (int i = 0; i < B * D; i++) {
            double e0 = E[i];
            E[i] = e0 + h;
            double lp = ours(&p, E, lab, B, D, 0, B, 0, tmp);
            E[i] = e0 - h;
            double lm = ours(&p, E, lab, B, D, 0, B, 0, tmp);
            E[i] = e0;
            fd[i] = (lp - lm) / (2 * h);
        }
        char what[96];
        snprintf(what, sizeof what, "%s finite differences", CASES[k].label);
        expect_close_d(g, fd, B * D, 1e-5, 1e-6 * max_abs(fd, B * D), what);
    }
}

// Query ranges (what W ranks compute) and query blocks (the 3-GEMM path in blocks of 256 rows) give
// the full result of the symmetric one-block path.
static void test_partitions(void) {
    enum { C = 275, m = 4, B = C * m, D = 8 };
    double *E = malloc(sizeof(double) * B * D), *g = malloc(sizeof(double) * B * D);
    double *acc = malloc(sizeof(double) * B * D), *part = malloc(sizeof(double) * B * D);
    int *lab = malloc(sizeof(int) * B);
    ref_make_batch(4, C, m, D, 1, E, lab);
    const char *names[] = {"smoothap", "pnp-dq", "triplet"};
    const int cuts[] = {0, 97, 433, 434, 1000, B};
    for (int k = 0; k < 3; k++) {
        AptLossParams p;
        apt_loss_params_default(&p, names[k]);
        double full = ours(&p, E, lab, B, D, 0, B, 0, g); // symmetric path: syrk + one GEMM
        block_rows = 256;                                 // 5 blocks, 3 GEMMs each
        double blocked = ours(&p, E, lab, B, D, 0, B, 0, part);
        block_rows = 0;
        char what[96];
        snprintf(what, sizeof what, "%s blocks of 256 loss", names[k]);
        expect_close_d(&blocked, &full, 1, 1e-12, 0, what);
        snprintf(what, sizeof what, "%s blocks of 256 grad", names[k]);
        expect_close_d(part, g, B * D, 1e-12, 1e-12 * max_abs(g, B * D), what);
        double sum = 0;
        memset(acc, 0, sizeof(double) * B * D);
        for (int c = 0; c + 1 < (int)(sizeof cuts / sizeof cuts[0]); c++) {
            sum += ours(&p, E, lab, B, D, cuts[c], cuts[c + 1], 0, part);
            for (int i = 0; i < B * D; i++)
                acc[i] += part[i];
        }
        snprintf(what, sizeof what, "%s ranges sum loss", names[k]);
        expect_close_d(&sum, &full, 1, 1e-12, 0, what);
        snprintf(what, sizeof what, "%s ranges sum grad", names[k]);
        expect_close_d(acc, g, B * D, 1e-12, 1e-12 * max_abs(g, B * D), what);
    }
    free(E), free(g), free(acc), free(part), free(lab);
}

// Same result, bit for bit, with 1 and 2 OpenMP threads (fixed partitioning, no atomics).
static void test_thread_determinism(void) {
    // B * B > 2^20 so the per-query loop and the symmetrisation really run on a team of 2
    enum { C = 275, m = 4, B = C * m, D = 8 };
    double *E = malloc(sizeof(double) * B * D), *g1 = malloc(sizeof(double) * B * D);
    double *g2 = malloc(sizeof(double) * B * D);
    int *lab = malloc(sizeof(int) * B);
    ref_make_batch(5, C, m, D, 1, E, lab);
    for (int f32 = 0; f32 < 2; f32++) {
        AptLossParams p;
        apt_loss_params_default(&p, "smoothap");
        omp_set_num_threads(2);
        double l2 = ours(&p, E, lab, B, D, 0, B, f32, g2);
        omp_set_num_threads(1);
        double l1 = ours(&p, E, lab, B, D, 0, B, f32, g1);
        TEST_CHECK(l1 == l2 && !memcmp(g1, g2, sizeof(double) * B * D), "%s: 1 and 2 threads differ",
                   f32 ? "f32" : "f64");
    }
    free(E), free(g1), free(g2), free(lab);
}

// Hand-computed: identical embeddings make every sigmoid G(0) = 1/2.
static void test_identical_embeddings(void) {
    enum { C = 5, m = 4, B = C * m, D = 6 };
    double E[B * D], g[B * D], rg[B * D];
    int lab[B];
    ref_make_batch(6, C, m, D, 1, E, lab);
    for (int i = 1; i < B; i++)
        memcpy(E + i * D, E, sizeof(double) * D);
    struct {
        const Case c;
        double want;
    } hand[] = {
        // R_all = 1 + (B-1)/2, R_pos = 1 + (m-1)/2
        {{"smoothap", "smoothap", 1, 0}, 1.0 - (m + 1.0) / (B + 1.0)},
        // q removed: R_all = 1 + (B-2)/2, R_pos = 1 + (m-2)/2
        {{"smoothap-exclude-self", "smoothap", 0, 0}, 1.0 - (double)m / B},
        {{"pnp-o", "pnp-o", 1, 0}, (B - m) / 2.0},
        {{"pnp-ds", "pnp-ds", 1, 0}, log(1 + (B - m) / 2.0)},
        {{"pnp-dq", "pnp-dq", 1, 0}, 1 - pow(1 + (B - m) / 2.0, -4.0)},
    };
    for (int k = 0; k < 5; k++) {
        AptLossParams p;
        RefParams rp;
        make_params(&hand[k].c, 0.01, &p, &rp);
        double l = ours(&p, E, lab, B, D, 0, B, 0, g);
        char what[96];
        snprintf(what, sizeof what, "%s identical embeddings (hand)", hand[k].c.label);
        expect_close_d(&l, &hand[k].want, 1, 1e-14, 0, what);
        // The gradient vanishes. Hand count for pnp-o, moving e_a along e by eps (G' = G'(0)):
        // the B - m rows where a is a negative gain m G' eps / (m B) each, the m - 1 other rows of
        // a's class lose (B - m) G' eps / (m B) each, and a's own row loses the same through s_aa:
        // (B - m) G' / B - m (B - m) G' / (m B) = 0; the other losses cancel the same way.
        // 1e-12 is far above the ~1e-16 roundoff and far below a real entry, O(w / tau) ~ 1.
        double rl = ref_loss_grad(hand[k].c.name, rp, E, lab, B, D, rg);
        TEST_CHECK(max_abs(g, B * D) < 1e-12 && max_abs(rg, B * D) < 1e-12 && fabs(rl - l) < 1e-14,
                   "%s identical embeddings: max|g| %g, ref %g", hand[k].c.label, max_abs(g, B * D),
                   max_abs(rg, B * D));
    }
}

// All classes of size 1: the paper's Smooth-AP has no query with a positive -> loss 0, gradient 0.
static void test_all_singletons(void) {
    enum { B = 10, D = 4 };
    double E[B * D], g[B * D];
    int lab[B];
    ref_make_batch(7, B, 1, D, 1, E, lab);
    AptLossParams p;
    apt_loss_params_default(&p, "smoothap");
    p.include_self = false;
    double l = ours(&p, E, lab, B, D, 0, B, 0, g);
    TEST_CHECK(l == 0.0 && max_abs(g, B * D) == 0.0, "exclude-self singletons: loss %g max|g| %g", l,
               max_abs(g, B * D));
    // official semantics: AP_q = 1 / R_all(q, q) < 1, so the loss is positive
    p.include_self = true;
    l = ours(&p, E, lab, B, D, 0, B, 0, g);
    TEST_CHECK(l > 0 && l < 1, "include-self singletons: loss %g in (0, 1)", l);
}

// The vectorised exp and sigmoid row kernel against libm and the scalar definition, including the
// clamp: at |e| = 50 exactly the gradient passes (torch.clamp is inclusive), beyond it is 0.
static void test_kernel(void) {
    double worst = 0;
    for (int k = -200000; k <= 200000; k++) {
        double x = 50.0 * k / 200000.0, want = exp(x);
        worst = fmax(worst, fabs(apt_loss_exp(x) - want) / want);
    }
    printf("     exp kernel on [-50, 50]: max relative error %.2e\n", worst);
    TEST_CHECK(worst < 1e-15, "exp kernel relative error %g", worst); // ~2 ulp budget
    enum { n = 1003 };
    double s[n], g[n], dg[n];
    for (int j = 0; j < n; j++)
        s[j] = -0.6 + 1.2 * j / (n - 1); // e = (0 - s) / 0.01 spans [-60, 60]
    s[0] = -0.5, s[1] = 0.5, s[2] = -0.5000001, s[3] = 0.5000001;
    apt_loss_sigmoid_row(s, 0.0, 100.0, n, g, dg);
    double wg = 0, wdg = 0;
    for (int j = 0; j < n; j++) {
        double dref, gref = apt_loss_sigmoid(s[j], 100.0, &dref);
        wg = fmax(wg, fabs(g[j] - gref) / gref);
        wdg = fmax(wdg, dref > 0 ? fabs(dg[j] - dref) / dref : fabs(dg[j]));
    }
    TEST_CHECK(wg < 1e-14 && wdg < 1e-14, "row kernel vs scalar sigmoid: G %g G' %g", wg, wdg);
    TEST_CHECK(dg[0] > 0 && dg[1] > 0 && dg[2] == 0 && dg[3] == 0,
               "clamp gradient at/after |e| = 50: %g %g %g %g", dg[0], dg[1], dg[2], dg[3]);
    // the fused form: G' row with two columns left out, and the two class sums
    double same[n], dg2[n], a = 0, b = 0, sa, sb;
    for (int j = 0; j < n; j++)
        same[j] = j % 3 == 0;
    apt_loss_sigmoid_sums(s, same, 0.0, 100.0, n, 7, 12, dg2, &sa, &sb);
    int ok = dg2[7] == 0 && dg2[12] == 0;
    for (int j = 0; j < n; j++) {
        if (j == 7 || j == 12) continue;
        double dref, gref = apt_loss_sigmoid(s[j], 100.0, &dref);
        *(same[j] ? &a : &b) += gref;
        ok &= dref > 0 ? fabs(dg2[j] - dref) <= 1e-14 * dref : dg2[j] == 0;
    }
    TEST_CHECK(ok && fabs(sa - a) <= 1e-14 * a && fabs(sb - b) <= 1e-14 * b, "fused sums: %g vs %g, %g vs %g",
               sa, a, sb, b);
    TEST_CHECK(g[2] == 1.0 / (1.0 + exp(50.0)) || fabs(g[2] - 1.0 / (1.0 + exp(50.0))) < 1e-30,
               "clamped value");
}

static void test_registry(void) {
    TEST_CHECK(apt_loss_find("nope") == NULL, "unknown loss name");
    // Every row of loss_names.h is registered under its id and has a reference case above: adding a
    // loss to the table without its reference test fails here.
#define NAME_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) NAME,
    static const char *table[] = {APT_LOSS_TABLE(NAME_)};
#undef NAME_
    for (int id = 0; id < APT_LOSS_COUNT; id++) {
        const AptLossImpl *impl = apt_loss_find(table[id]);
        TEST_CHECK(impl && (int)impl->id == id && !strcmp(apt_loss_name(impl), table[id]),
                   "registry entry of '%s'", table[id]);
        int covered = 0;
        for (int k = 0; k < NCASES; k++)
            covered |= !strcmp(CASES[k].name, table[id]);
        TEST_CHECK(covered, "loss '%s' of loss_names.h has no case in test_losses.c", table[id]);
    }
    char joined[512] = "";
    for (int id = 0; id < APT_LOSS_COUNT; id++)
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", id ? ", " : "", table[id]);
    TEST_CHECK(!strcmp(apt_loss_names(), joined), "names list '%s', table '%s'", apt_loss_names(), joined);
    AptLossParams p;
    TEST_CHECK(!apt_loss_params_default(&p, "smooth-ap"), "unknown name in defaults");
    TEST_CHECK(apt_loss_params_default(&p, "pnp-dq") && p.tau == 0.01 && p.alpha == 4 && p.b == 2 &&
                   p.include_self,
               "defaults of DESIGN §3");
    // recallk: the official code's k_vals_train and k_temperatures defaults
    TEST_CHECK(apt_loss_params_default(&p, "recallk") && p.recallk_n == 5 && p.recallk_k[0] == 1 &&
                   p.recallk_k[4] == 16 && p.recallk_tau[0] == 1 && p.recallk_tau[4] == 16 && p.tau == 0.01,
               "recallk defaults");
}

// Recall@k surrogate beyond the default case: the min(., k) clip active (the second pass of
// cpu_loss_recallk.c), k above the batch, temperatures of 1 (the setting), and queries without
// positives: finite, left out of the loss and of its normaliser.
static void set_recallk(AptLossParams *p, RefParams *rp, int n, const double *k, const double *tk) {
    p->recallk_n = rp->nk = n;
    for (int t = 0; t < n; t++)
        p->recallk_k[t] = rp->k[t] = k[t], p->recallk_tau[t] = rp->tau_k[t] = tk[t];
}

static void test_recallk(void) {
    enum { C = 9, m = 4, B = C * m, D = 16 };
    double E[B * D], g[B * D], rg[B * D], fd[B * D], tmp[B * D];
    int lab[B];
    ref_make_batch(11, C, m, D, 1, E, lab);
    const Case c = {"recallk", "recallk", 1, 0};
    struct {
        const char *what;
        int n;
        double k[5], tk[5];
        double tau;
    } sets[] = {
        // tau_k = 100: every H_k(k - rank) ~ 1/2, so sum_p H_1 ~ 3/2 > 1: k = 1 clipped, k = 2 not
        {"clip k=1", 2, {1, 2}, {100, 100}, 0.05},
        {"k above B", 3, {1, 16, 64}, {1, 1, 1}, 0.05}, // 64 -> B = 36
        {"temperatures 1", 5, {1, 2, 4, 8, 16}, {1, 1, 1, 1, 1}, 0.01},
    };
    for (int si = 0; si < 3; si++) {
        AptLossParams p;
        RefParams rp;
        make_params(&c, sets[si].tau, &p, &rp);
        set_recallk(&p, &rp, sets[si].n, sets[si].k, sets[si].tk);
        double rl = ref_loss_grad("recallk", rp, E, lab, B, D, rg);
        double l = ours(&p, E, lab, B, D, 0, B, 0, g);
        char what[128];
        snprintf(what, sizeof what, "recallk %s f64", sets[si].what);
        double e64 = compare(what, l, g, rl, rg, B * D, 1e-9);
        l = ours(&p, E, lab, B, D, 0, B, 1, g);
        snprintf(what, sizeof what, "recallk %s f32", sets[si].what);
        double e32 = compare(what, l, g, rl, rg, B * D, 1e-4);
        printf("     recallk %-16s loss %.12f  grad err/max: f64 %.2e  f32 %.2e\n", sets[si].what, rl, e64,
               e32);
    }
    // the clip case against central differences (its gradient takes the second pass)
    {
        enum { C2 = 3, m2 = 5, B2 = C2 * m2, D2 = 5 };
        double E2[B2 * D2];
        int lab2[B2];
        ref_make_batch(12, C2, m2, D2, 1, E2, lab2);
        AptLossParams p;
        RefParams rp;
        make_params(&c, 0.05, &p, &rp);
        const double k[] = {1, 2, 3}, tk[] = {100, 100, 1};
        set_recallk(&p, &rp, 3, k, tk);
        ours(&p, E2, lab2, B2, D2, 0, B2, 0, g);
        const double h = 1e-6;
        for (int i = 0; i < B2 * D2; i++) {
            double e0 = E2[i];
            E2[i] = e0 + h;
            double lp = ours(&p, E2, lab2, B2, D2, 0, B2, 0, tmp);
            E2[i] = e0 - h;
            double lm = ours(&p, E2, lab2, B2, D2, 0, B2, 0, tmp);
            E2[i] = e0;
            fd[i] = (lp - lm) / (2 * h);
        }
        double worst = 0;
        for (int i = 0; i < B2 * D2; i++)
            worst = fmax(worst, fabs(g[i] - fd[i]));
        printf("     recallk clip: finite differences max|diff|/max|fd| %.2e\n",
               worst / max_abs(fd, B2 * D2));
        expect_close_d(g, fd, B2 * D2, 1e-5, 1e-6 * max_abs(fd, B2 * D2), "recallk clip finite differences");
    }
    // queries without positives: rows 0 and 5 become singletons (the official code would divide by
    // min(k, 0) = 0 there and return NaN)
    lab[0] = 999, lab[5] = -998;
    AptLossParams p;
    RefParams rp;
    make_params(&c, 0.01, &p, &rp);
    double rl = ref_loss_grad("recallk", rp, E, lab, B, D, rg);
    double l = ours(&p, E, lab, B, D, 0, B, 0, g);
    int finite = isfinite(l);
    for (int i = 0; i < B * D; i++)
        finite &= isfinite(g[i]);
    TEST_CHECK(finite, "recallk with singleton queries: loss %g, gradient finite %d", l, finite);
    compare("recallk singletons f64", l, g, rl, rg, B * D, 1e-9);
    // the singleton's own range contributes nothing, and the normaliser is B - 2: the per-query parts of
    // all other queries, times B - 2, average to 1 - mean recall, i.e. the loss over [0, B) is their sum
    double l0 = ours(&p, E, lab, B, D, 0, 1, 0, g);
    TEST_CHECK(l0 == 0.0 && max_abs(g, B * D) == 0.0, "recallk singleton query: loss part %g, max|g| %g", l0,
               max_abs(g, B * D));
    double rest = ours(&p, E, lab, B, D, 1, 5, 0, g) + ours(&p, E, lab, B, D, 6, B, 0, g);
    expect_close_d(&rest, &l, 1, 1e-12, 0, "recallk: the loss is the sum over queries with positives");
    // Q = B - 2: one query's part times Q is its 1 - mean recall, within [0, 1]
    double one = ours(&p, E, lab, B, D, 1, 2, 0, g) * (B - 2);
    TEST_CHECK(one >= 0 && one <= 1, "recallk: query 1's part x (B - 2) = %g is a 1 - recall", one);
    // every query a singleton: loss 0, gradient 0, nothing NaN
    ref_make_batch(13, B, 1, D, 1, E, lab);
    l = ours(&p, E, lab, B, D, 0, B, 0, g);
    TEST_CHECK(l == 0.0 && max_abs(g, B * D) == 0.0, "recallk all singletons: loss %g max|g| %g", l,
               max_abs(g, B * D));
    printf("     recallk singletons: loss %.12f (ref %.12f), all-singleton batch loss %g\n", rl, rl, l);
}

int main(void) {
    test_registry();
    test_kernel();
    test_random_batches();
    test_finite_differences();
    test_partitions();
    test_thread_determinism();
    test_identical_embeddings();
    test_all_singletons();
    test_recallk();
    return apt_test_finish("test_losses");
}
