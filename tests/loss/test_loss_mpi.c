// test_loss_mpi.c — the exactness contract (DESIGN §1) for every loss under mpirun -np 2/4: rank r
// holds rows [r*b, (r+1)*b) of the global batch, all-gathers E, computes its queries, reduce-scatters
// dE and sums the loss; the result must equal the 1-process loss on the whole batch, row by row.
//
// Tolerances: float64 path 1e-12 relative (+1e-12 max|grad| floor) — the contract asks 1e-6; only
// the summation order of the W partial dE differs, so ~1e-15 is expected. float32 path 1e-5
// relative to max|grad|: partial dE rows are float GEMM outputs summed in a different order (~1e-7).
#include <string.h>

#include "dist/comm.h"
#include "dist/exchange.h"
#include "harness.h"
#include "loss/loss.h"
#include "loss_ref.h"

// Every loss of loss_names.h, plus smoothap with the paper's semantics (include_self false).
#define MPI_CASE_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) {NAME, 1},
static const struct {
    const char *name;
    int include_self;
} CASES[] = {APT_LOSS_TABLE(MPI_CASE_){"smoothap", 0}};
#undef MPI_CASE_
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static double max_abs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

static void run(AptComm *c, int C, int m, int D) {
    const int B = C * m, W = c->world, r = c->rank;
    if (B % W) return;
    const int b = B / W, q0 = r * b;
    double *E = malloc(sizeof(double) * B * D), *dE = malloc(sizeof(double) * B * D);
    double *dEl = malloc(sizeof(double) * b * D), *Eg = malloc(sizeof(double) * B * D);
    double *full = malloc(sizeof(double) * B * D), *rowd = malloc(sizeof(double) * b * D);
    float *Ef = malloc(sizeof(float) * B * D), *dEf = malloc(sizeof(float) * B * D);
    float *dElf = malloc(sizeof(float) * b * D), *Egf = malloc(sizeof(float) * B * D);
    float *fullf = malloc(sizeof(float) * B * D);
    int *lab = malloc(sizeof(int) * B);
    ref_make_batch(11, C, m, D, 1, E, lab); // same on every rank: the labels every rank holds
    for (int i = 0; i < B * D; i++)
        Ef[i] = (float)E[i];
    AptLossWorkspace *ws64 = apt_loss_workspace_create(B, B, D, APT_F64);
    AptLossWorkspace *ws32 = apt_loss_workspace_create(B, B, D, APT_F32);
    for (int k = 0; k < NCASES; k++) {
        AptLossParams p;
        apt_loss_params_default(&p, CASES[k].name);
        p.include_self = CASES[k].include_self;
        char what[128];
        // float64: all-gather only this rank's rows, so the test relies on the exchange for the rest
        c->allgather(c, E + (size_t)q0 * D, Eg, (size_t)b * D, APT_F64);
        AptLossOut out = {.dE64 = dE};
        apt_loss_compute(
            ws64, &p, &(AptLossIn){.E64 = Eg, .labels = lab, .B = B, .D = D, .q_begin = q0, .q_end = q0 + b},
            &out);
        c->reduce_scatter(c, dE, dEl, (size_t)b * D, APT_F64, APT_SUM);
        double loss = apt_comm_sum_host(c, out.loss_part);
        AptLossOut one = {.dE64 = full};
        apt_loss_compute(
            ws64, &p, &(AptLossIn){.E64 = E, .labels = lab, .B = B, .D = D, .q_begin = 0, .q_end = B}, &one);
        snprintf(what, sizeof what, "W=%d rank %d %s%s B=%d f64 loss", W, r, CASES[k].name,
                 CASES[k].include_self ? "" : "-exclude-self", B);
        expect_close_d(&loss, &one.loss_part, 1, 1e-12, 0, what);
        what[strlen(what) - 4] = 0;
        strcat(what, "grad rows");
        expect_close_d(dEl, full + (size_t)q0 * D, (size_t)b * D, 1e-12, 1e-12 * max_abs(full, (size_t)B * D),
                       what);

        // float32: the training path through dist/exchange.
        apt_exchange_allgather(c, Ef + (size_t)q0 * D, Egf, b, D);
        AptLossOut o32 = {.dE = dEf};
        apt_loss_compute(
            ws32, &p, &(AptLossIn){.E = Egf, .labels = lab, .B = B, .D = D, .q_begin = q0, .q_end = q0 + b},
            &o32);
        apt_exchange_reduce_scatter(c, dEf, dElf, b, D);
        double loss32 = apt_comm_sum_host(c, o32.loss_part);
        AptLossOut one32 = {.dE = fullf};
        apt_loss_compute(
            ws32, &p, &(AptLossIn){.E = Ef, .labels = lab, .B = B, .D = D, .q_begin = 0, .q_end = B}, &one32);
        double gmax = 0;
        for (int i = 0; i < B * D; i++)
            gmax = fmax(gmax, fabs(fullf[i]));
        for (int i = 0; i < b * D; i++)
            rowd[i] = dElf[i];
        double *want = malloc(sizeof(double) * b * D);
        for (int i = 0; i < b * D; i++)
            want[i] = fullf[(size_t)q0 * D + i];
        snprintf(what, sizeof what, "W=%d rank %d %s%s B=%d f32 loss", W, r, CASES[k].name,
                 CASES[k].include_self ? "" : "-exclude-self", B);
        expect_close_d(&loss32, &one32.loss_part, 1, 1e-6, 0, what);
        what[strlen(what) - 4] = 0;
        strcat(what, "grad rows");
        expect_close_d(rowd, want, (size_t)b * D, 1e-5, 1e-5 * gmax, what);
        free(want);
    }
    apt_loss_workspace_free(ws64);
    apt_loss_workspace_free(ws32);
    free(E), free(dE), free(dEl), free(Eg), free(full), free(rowd), free(Ef), free(dEf), free(dElf),
        free(Egf);
    free(fullf), free(lab);
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    if (c->world < 2) { // one rank would compare the 1-process loss with itself
        printf("test_loss_mpi: skipped: needs mpirun -np 2 or more (ctest: test_loss_mpi_np2/np4)\n");
        apt_comm_finalize(c);
        return 77;
    }
    run(c, 12, 4, 16); // B = 48: b = 24, 12 at W = 2, 4
    run(c, 260, 4, 8); // B = 1040: b = 520 (2 blocks), 260
    int rc = apt_test_finish("test_loss_mpi");
    rc = (int)apt_comm_max_host(c, rc);
    apt_comm_finalize(c);
    return rc;
}
