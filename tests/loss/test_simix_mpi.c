// test_simix_mpi.c — SiMix (src/loss/simix.h) under mpirun -np 2/4: the exactness contract (DESIGN §1).
// Rank r holds rows [r b, (r + 1) b) of the batch, all-gathers E through dist/exchange, builds the virtual
// rows like every other rank, computes the loss of its real queries and its share of the virtual ones,
// folds the virtual rows' gradient into dE and reduce-scatters it; the loss summed over ranks and each
// rank's dE rows must equal one process running the whole batch (W = 1 plan, same alphas).
// Tolerances (float32 path, as test_loss_mpi's): loss 1e-6 relative, gradient 1e-5 of max|grad|: the W
// partial dE are float32 GEMM outputs summed in another order, and the extended rows are laid out per W,
// so the loss's own sums run in another order too.
#include <string.h>

#include "backend/backend.h"
#include "dist/comm.h"
#include "dist/exchange.h"
#include "harness.h"
#include "loss/loss.h"
#include "loss/simix.h"
#include "loss_ref.h"

static void run(AptComm *c, AptBackend *be, int C, int m, int D) {
    const int B = C * m, W = c->world, r = c->rank, b = B / W, q0 = r * b, V = apt_simix_rows(B, m);
    if (B % W) return;
    double *E64 = malloc(sizeof(double) * B * D);
    int *lab = malloc(sizeof(int) * B);
    ref_make_batch(17, C, m, D, 1, E64, lab); // shuffled classes, the same on every rank
    float *E = malloc(sizeof(float) * B * D), *Eg = malloc(sizeof(float) * B * D);
    float *dE = malloc(sizeof(float) * B * D), *dEl = malloc(sizeof(float) * b * D);
    float *full = malloc(sizeof(float) * B * D);
    for (int i = 0; i < B * D; i++)
        E[i] = (float)E64[i];
    AptLossParams p;
    apt_loss_params_default(&p, "recallk");
    p.recallk_n = 4;
    const double ks[4] = {1, 4, 16, 2 * B}, tks[4] = {1, 2, 4, 8};
    for (int t = 0; t < 4; t++)
        p.recallk_k[t] = ks[t], p.recallk_tau[t] = tks[t];
    const int mx = m + apt_simix_pair_count(m);
    void *wsW = NULL, *ws1 = NULL;
    be->loss_create(be, &p, apt_simix_b_max(B, W, V), B + V, D, mx, &wsW);
    be->loss_create(be, &p, B + V, B + V, D, mx, &ws1);
    AptSimix *sW = apt_simix_create(be, B, W, D, V), *s1 = apt_simix_create(be, B, 1, D, V);
    double lpW = 0, lp1 = 0;
    for (int step = 0; step < 2; step++) {
        apt_exchange_allgather(c, E + (size_t)q0 * D, Eg, b, D);
        apt_simix_loss_compute(sW, wsW, &p, Eg, lab, r, 77, 3, (uint32_t)step, dE, &lpW);
        apt_exchange_reduce_scatter(c, dE, dEl, b, D);
        double loss = apt_comm_sum_host(c, lpW);
        apt_simix_loss_compute(s1, ws1, &p, E, lab, 0, 77, 3, (uint32_t)step, full, &lp1);
        double gmax = 0;
        for (int i = 0; i < B * D; i++)
            gmax = fmax(gmax, fabs(full[i]));
        double *got = malloc(sizeof(double) * b * D), *want = malloc(sizeof(double) * b * D), err = 0;
        for (int i = 0; i < b * D; i++) {
            got[i] = dEl[i], want[i] = full[(size_t)q0 * D + i];
            err = fmax(err, fabs(got[i] - want[i]));
        }
        char what[128];
        snprintf(what, sizeof what, "W=%d rank %d simix C=%d m=%d B=%d V=%d step %d loss", W, r, C, m, B, V,
                 step);
        expect_close_d(&loss, &lp1, 1, 1e-6, 0, what);
        snprintf(what, sizeof what, "W=%d rank %d simix C=%d m=%d B=%d V=%d step %d grad rows", W, r, C, m, B,
                 V, step);
        expect_close_d(got, want, (size_t)b * D, 1e-5, 1e-5 * gmax, what);
        if (r == 0)
            printf("     W=%d C=%d m=%d step %d: loss %.9f vs 1-rank %.9f (rel %.2e), grad max err / "
                   "max|grad| %.2e\n",
                   W, C, m, step, loss, lp1, fabs(loss - lp1) / fabs(lp1), err / gmax);
        free(got), free(want);
    }
    apt_simix_free(sW), apt_simix_free(s1);
    be->loss_free(be, wsW), be->loss_free(be, ws1);
    free(E64), free(lab), free(E), free(Eg), free(dE), free(dEl), free(full);
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    if (c->world < 2) {
        printf("test_simix_mpi: skipped: needs mpirun -np 2 or more (ctest: test_simix_mpi_np2/np4)\n");
        apt_comm_finalize(c);
        return 77;
    }
    AptBackend *be = apt_backend_create("cpu");
    run(c, be, 6, 4, 16);  // B 24, V 36
    run(c, be, 8, 3, 8);   // B 24, V 24
    run(c, be, 4, 6, 8);   // B 24, V 60
    run(c, be, 130, 4, 8); // B 520, V 780: several query blocks per rank
    apt_backend_destroy(be);
    int rc = apt_test_finish("test_simix_mpi");
    rc = (int)apt_comm_max_host(c, rc);
    apt_comm_finalize(c);
    return rc;
}
