// test_simix.c — SiMix for the Recall@k surrogate (src/loss/simix.h):
//   1. the pair order: the official pos_mixup's for m = 3, 4, 6 (src/mixup.py, written out here), every
//      pair once for other m;
//   2. the float64 host path against the OFFICIAL code (src/losses.py RecallatK + src/mixup.py pos_mixup,
//      float64 on the CPU, alphas injected: data/recallk_simix_official.h5 from
//      make_recallk_simix_official.py): loss and gradient within 1e-6 relative (the bound; only
//      summation order differs, ~1e-14 is expected);
//   3. the same path against the naive float64 reference of loss_ref.h on the extended rows (an
//      independent implementation of the loss) on a shuffled batch with counter-based alphas;
//   4. the float32 training path (mix_rows, loss_compute, mix_rows_backward on the CPU backend) against
//      the float64 path: 1e-5 relative (float32 GEMMs and rows, as test_loss_mpi's float32 bound);
//   5. the alphas: in [0, 1), the same for the same (seed, epoch, step), others for another step.
#include <hdf5.h>
#include <string.h>

#include "backend/backend.h"
#include "harness.h"
#include "loss/loss.h"
#include "loss/simix.h"
#include "loss_ref.h"

#ifndef APT_TEST_SOURCE_DIR
#define APT_TEST_SOURCE_DIR "."
#endif

static double max_abs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

static void test_pair_order(void) {
    // src/mixup.py, fake_1 .. fake_N of each case: (i, j) with alpha on i.
    static const int o3[3][2] = {{0, 1}, {1, 2}, {0, 2}};
    static const int o4[6][2] = {{0, 1}, {1, 2}, {2, 3}, {0, 3}, {0, 2}, {1, 3}};
    static const int o6[15][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {0, 2}, {0, 3}, {0, 4},
                                  {0, 5}, {1, 3}, {1, 4}, {1, 5}, {2, 4}, {2, 5}, {3, 5}};
    const int(*tabs[3])[2] = {o3, o4, o6};
    const int ms[3] = {3, 4, 6};
    for (int c = 0; c < 3; c++) {
        int bad = 0;
        for (int p = 0; p < apt_simix_pair_count(ms[c]); p++) {
            int i, j;
            apt_simix_pair(ms[c], p, &i, &j);
            bad += i != tabs[c][p][0] || j != tabs[c][p][1];
        }
        TEST_CHECK(bad == 0 && apt_simix_pair_count(ms[c]) == ms[c] * (ms[c] - 1) / 2,
                   "m = %d: %d pairs out of the official order", ms[c], bad);
    }
    for (int m = 2; m <= 12; m++) {
        int seen[12][12] = {{0}}, bad = 0;
        for (int p = 0; p < apt_simix_pair_count(m); p++) {
            int i, j;
            apt_simix_pair(m, p, &i, &j);
            if (i < 0 || j <= i || j >= m || seen[i][j]++) bad++;
        }
        TEST_CHECK(bad == 0, "m = %d: %d pairs repeated or out of range", m, bad);
    }
    printf("ok   pair order: official for m = 3, 4, 6; every pair once for m = 2..12\n");
}

static void *read_ds(hid_t g, const char *name, hid_t type, size_t *n) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT), sp = H5Dget_space(d);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    void *buf = malloc((size_t)(cnt > 0 ? cnt : 1) * H5Tget_size(type));
    H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Sclose(sp);
    H5Dclose(d);
    if (n) *n = (size_t)cnt;
    return buf;
}

static void test_official(void) {
    const char *path = APT_TEST_SOURCE_DIR "/tests/loss/data/recallk_simix_official.h5";
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    TEST_CHECK(f >= 0, "cannot open %s", path);
    if (f < 0) return;
    for (int c = 0;; c++) {
        char name[32];
        snprintf(name, sizeof name, "case%d", c);
        if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
            TEST_CHECK(c == 4, "%s: %d cases, expected 4", path, c);
            break;
        }
        hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
        size_t nE, B, V, nk, nt;
        double *E = read_ds(g, "embeddings", H5T_NATIVE_DOUBLE, &nE);
        int *lab = read_ds(g, "labels", H5T_NATIVE_INT, &B);
        double *alpha = read_ds(g, "alpha", H5T_NATIVE_DOUBLE, &V);
        double *want_g = read_ds(g, "grad", H5T_NATIVE_DOUBLE, NULL);
        double *want_l = read_ds(g, "loss", H5T_NATIVE_DOUBLE, NULL);
        double tau = 0;
        hid_t a = H5Aopen(g, "tau", H5P_DEFAULT);
        H5Aread(a, H5T_NATIVE_DOUBLE, &tau);
        H5Aclose(a);
        double k[16], tk[16];
        {
            hid_t ak = H5Aopen(g, "k", H5P_DEFAULT), sp = H5Aget_space(ak);
            nk = (size_t)H5Sget_simple_extent_npoints(sp);
            H5Aread(ak, H5T_NATIVE_DOUBLE, k);
            H5Sclose(sp), H5Aclose(ak);
            hid_t at = H5Aopen(g, "k_temperatures", H5P_DEFAULT);
            sp = H5Aget_space(at);
            nt = (size_t)H5Sget_simple_extent_npoints(sp);
            H5Aread(at, H5T_NATIVE_DOUBLE, tk);
            H5Sclose(sp), H5Aclose(at);
        }
        H5Gclose(g);
        const int D = (int)(nE / B);
        AptLossParams p;
        apt_loss_params_default(&p, "recallk");
        p.tau = tau;
        p.recallk_n = (int)nk;
        TEST_CHECK(nk == nt && nk <= 16, "%s: %zu k and %zu temperatures", name, nk, nt);
        for (size_t t = 0; t < nk; t++)
            p.recallk_k[t] = k[t], p.recallk_tau[t] = tk[t];
        AptSimixPlan *pl = apt_simix_plan_create((int)B, 1, (int)V);
        apt_simix_plan_build(pl, lab, alpha, 0, 0, 0);
        TEST_CHECK(pl->V == (int)V, "%s: %d virtual rows, the official code made %zu", name, pl->V, V);
        AptLossWorkspace *ws = apt_loss_workspace_create(pl->n, pl->n, D, APT_F64);
        double *Ex = malloc(sizeof(double) * pl->n * D), *dEx = malloc(sizeof(double) * pl->n * D);
        double *dE = malloc(sizeof(double) * B * D);
        double l = apt_simix_loss_f64(ws, &p, pl, E, D, Ex, dEx, dE);
        const double gmax = max_abs(want_g, B * D);
        double gerr = 0;
        for (size_t i = 0; i < B * D; i++)
            gerr = fmax(gerr, fabs(dE[i] - want_g[i]));
        printf("     official %s (B %zu, V %zu, D %d): loss %.15f vs %.15f, rel err %.2e; grad max err / "
               "max|grad| "
               "%.2e\n",
               name, B, V, D, l, *want_l, fabs(l - *want_l) / fabs(*want_l), gerr / gmax);
        char what[96];
        snprintf(what, sizeof what, "official simix %s loss", name);
        expect_close_d(&l, want_l, 1, 1e-6, 0, what);
        snprintf(what, sizeof what, "official simix %s grad", name);
        expect_close_d(dE, want_g, B * D, 1e-6, 1e-6 * gmax, what);
        apt_loss_workspace_free(ws);
        apt_simix_plan_free(pl);
        free(E), free(lab), free(alpha), free(want_g), free(want_l), free(Ex), free(dEx), free(dE);
    }
    H5Fclose(f);
}

// Shuffled batch, counter-based alphas: the float64 path vs loss_ref.h's naive recallk on the extended
// rows (k pre-clipped to the real B, which that reference clips to its own gallery), its gradient folded
// by hand; then the float32 training path on the CPU backend vs the float64 path.
static void test_paths(int C, int m, int D) {
    const int B = C * m, V = apt_simix_rows(B, m);
    double *E = malloc(sizeof(double) * B * D);
    int *lab = malloc(sizeof(int) * B);
    ref_make_batch(5, C, m, D, 1, E, lab);
    AptLossParams p;
    apt_loss_params_default(&p, "recallk");
    p.recallk_n = 4;
    const double ks[4] = {1, 4, 16, 64}, tks[4] = {1, 2, 4, 8};
    for (int t = 0; t < 4; t++)
        p.recallk_k[t] = ks[t], p.recallk_tau[t] = tks[t];
    AptSimixPlan *pl = apt_simix_plan_create(B, 1, V);
    apt_simix_plan_build(pl, lab, NULL, 1234, 2, 7);
    const int n = pl->n;
    TEST_CHECK(pl->V == V, "C %d m %d: %d virtual rows, want %d", C, m, pl->V, V);
    int bad = 0;
    for (int x = B; x < n; x++)
        bad += !(pl->alpha[x] >= 0 && pl->alpha[x] < 1) || pl->labels[x] != lab[pl->src[2 * x]] ||
               lab[pl->src[2 * x]] != lab[pl->src[2 * x + 1]] || pl->src[2 * x] == pl->src[2 * x + 1];
    TEST_CHECK(bad == 0, "%d virtual rows with a bad weight, label or source pair", bad);
    double *Ex = malloc(sizeof(double) * n * D), *dEx = malloc(sizeof(double) * n * D);
    double *dE = malloc(sizeof(double) * B * D), *rg = malloc(sizeof(double) * n * D);
    double *rdE = malloc(sizeof(double) * B * D);
    AptLossWorkspace *ws = apt_loss_workspace_create(n, n, D, APT_F64);
    const double l = apt_simix_loss_f64(ws, &p, pl, E, D, Ex, dEx, dE);

    RefParams rp = ref_defaults("recallk");
    rp.nk = 4;
    for (int t = 0; t < 4; t++)
        rp.k[t] = ks[t] < B ? ks[t] : B, rp.tau_k[t] = tks[t];
    const double rl = ref_loss_grad("recallk", rp, Ex, pl->labels, n, D, rg);
    apt_simix_fold_f64(pl, D, rg, rdE);
    char what[96];
    snprintf(what, sizeof what, "simix f64 vs naive reference C=%d m=%d loss", C, m);
    expect_close_d(&l, &rl, 1, 1e-10, 0, what);
    snprintf(what, sizeof what, "simix f64 vs naive reference C=%d m=%d grad", C, m);
    expect_close_d(dE, rdE, (size_t)B * D, 1e-9, 1e-9 * max_abs(rdE, (size_t)B * D), what);

    // float32 through the backend ops (CPU table), W = 1.
    AptBackend *be = apt_backend_create("cpu");
    void *lws = NULL;
    be->loss_create(be, &p, n, n, D, m + apt_simix_pair_count(m), &lws);
    AptSimix *s = apt_simix_create(be, B, 1, D, V);
    float *Ef = be->alloc(be, sizeof(float) * B * D), *dEf = be->alloc(be, sizeof(float) * B * D);
    double *lp = be->alloc(be, sizeof(double));
    for (int i = 0; i < B * D; i++)
        Ef[i] = (float)E[i];
    apt_simix_loss_compute(s, lws, &p, Ef, lab, 0, 1234, 2, 7, dEf, lp);
    double *g32 = malloc(sizeof(double) * B * D);
    for (int i = 0; i < B * D; i++)
        g32[i] = dEf[i];
    snprintf(what, sizeof what, "simix f32 ops vs f64 C=%d m=%d loss", C, m);
    expect_close_d(lp, &l, 1, 1e-5, 0, what);
    snprintf(what, sizeof what, "simix f32 ops vs f64 C=%d m=%d grad", C, m);
    expect_close_d(g32, dE, (size_t)B * D, 1e-5, 1e-5 * max_abs(dE, (size_t)B * D), what);
    // The same call again: bitwise (the plan and the ops are deterministic).
    double l1 = *lp;
    apt_simix_loss_compute(s, lws, &p, Ef, lab, 0, 1234, 2, 7, dEf, lp);
    int same = *lp == l1;
    for (int i = 0; i < B * D; i++)
        same &= (double)dEf[i] == g32[i];
    TEST_CHECK(same, "simix f32: a repeated call is not bitwise the same");
    apt_simix_free(s);
    be->loss_free(be, lws);
    be->free(be, Ef), be->free(be, dEf), be->free(be, lp);
    apt_backend_destroy(be);
    apt_loss_workspace_free(ws);
    apt_simix_plan_free(pl);
    free(E), free(lab), free(Ex), free(dEx), free(dE), free(rg), free(rdE), free(g32);
}

static void test_alpha_keys(void) {
    const int C = 4, m = 4, B = C * m, V = apt_simix_rows(B, m);
    int lab[16];
    for (int i = 0; i < B; i++)
        lab[i] = i / m;
    AptSimixPlan *a = apt_simix_plan_create(B, 1, V), *b = apt_simix_plan_create(B, 1, V);
    apt_simix_plan_build(a, lab, NULL, 9, 1, 5);
    apt_simix_plan_build(b, lab, NULL, 9, 1, 5);
    TEST_CHECK(!memcmp(a->alpha, b->alpha, sizeof(double) * a->n), "simix: the same key gave other alphas");
    apt_simix_plan_build(b, lab, NULL, 9, 1, 6);
    int differ = 0;
    for (int x = B; x < a->n; x++)
        differ += a->alpha[x] != b->alpha[x];
    TEST_CHECK(differ == V, "simix: the next step repeats %d of %d alphas", V - differ, V);
    apt_simix_plan_free(a), apt_simix_plan_free(b);
    printf("ok   alphas: a pure function of (seed, epoch, step, pair)\n");
}

int main(void) {
    test_pair_order();
    test_official();
    test_paths(5, 4, 16); // B 20, V 30
    test_paths(4, 6, 8);  // B 24, V 60
    test_paths(7, 3, 8);  // B 21, V 21
    test_alpha_keys();
    return apt_test_finish("test_simix");
}
