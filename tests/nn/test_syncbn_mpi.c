// test_syncbn_mpi.c — `sync` BatchNorm is exact across world sizes (DESIGN §1): W ranks, each with a
// contiguous slice of one global batch, give the same embeddings, summed gradients and running statistics
// as one process on the whole batch (computed here on every rank with a self communicator).
// Run with 2 and 4 ranks (one rank would compare the reference with itself: it skips). Bound: 1e-5 relative (norm-wise) — only float summation order differs
// (per-rank partial sums, all-reduced in float64); a missing all-reduce (i.e. local BN) misses by ~1e-1.
// Also checks that `local` BN really differs across world sizes (so the test can fail).
#include "core/rng.h"
#include "harness.h"
#include "nn/model.h"

#include <string.h>

static double rel(const float *a, const float *b, size_t n) {
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        w += (double)b[i] * b[i];
    }
    return sqrt(d) / (sqrt(w) + 1e-30);
}

// E_local / grads / running stats of W ranks vs the single-process reference; returns the worst error.
static double run(AptComm *c, AptBNMode mode, bool verbose) {
    const int B = 8, C = 1, H = 14, W = 14, D = 16, Wd = c->world;
    const int b = B / Wd, r0 = c->rank * b;
    AptModelConfig mc;
    memset(&mc, 0, sizeof mc);
    strcpy(mc.arch, "smallcnn");
    mc.embed_dim = D;
    mc.bn = mode;
    mc.width = 8;
    mc.head_init_std = 0.1;
    size_t img = (size_t)C * H * W;
    float *x = malloc(B * img * sizeof *x), *dE = malloc((size_t)B * D * sizeof *dE);
    AptRngStream rng = apt_rng_stream(17, APT_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < B * img; i++)
        x[i] = (float)apt_rng_next_normal(&rng) + 0.3f;
    for (int i = 0; i < B * D; i++)
        dE[i] = (float)apt_rng_next_normal(&rng);

    AptBackend *be = apt_backend_create("cpu");
    AptComm *self = apt_comm_create_self();
    AptModel *ref = apt_model_create(&mc, be, self, B, C, H, W, 3);
    AptModel *m = apt_model_create(&mc, be, c, b, C, H, W, 3);
    float *Eref = malloc((size_t)B * D * sizeof *Eref), *E = malloc((size_t)B * D * sizeof *E);
    apt_model_forward(ref, x, B, Eref, true);
    apt_model_backward(ref, dE);
    apt_model_forward(m, x + r0 * img, b, E + (size_t)r0 * D, true);
    apt_model_backward(m, dE + (size_t)r0 * D);
    c->allgather(c, E + (size_t)r0 * D, E, (size_t)b * D, APT_F32);
    AptParamStore *ps = apt_model_params(m), *pr = apt_model_params(ref);
    c->allreduce(c, ps->g, ps->numel, APT_F32, APT_SUM);
    double eE = rel(E, Eref, (size_t)B * D), eG = rel(ps->g, pr->g, ps->numel);
    double eR = rel(ps->buffers, pr->buffers, ps->buffers_numel);
    if (verbose && c->rank == 0)
        printf("%s BN, W=%d: relative error embeddings %.3g, summed gradients %.3g, running stats %.3g\n",
               mode == APT_BN_SYNC ? "sync" : "local", Wd, eE, eG, eR);
    apt_model_destroy(m);
    apt_model_destroy(ref);
    apt_comm_finalize(self);
    apt_backend_destroy(be);
    free(x), free(dE), free(Eref), free(E);
    double worst = eE > eG ? eE : eG;
    return worst > eR ? worst : eR;
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    if (c->world < 2) { // one rank would compare the reference with itself
        printf("test_syncbn_mpi: skipped: needs mpirun -np 2 or more (ctest: test_syncbn_mpi_np2/np4)\n");
        apt_comm_finalize(c);
        return 77;
    }
    double e = run(c, APT_BN_SYNC, true);
    TEST_CHECK(e <= 1e-5, "sync BN with W=%d differs from the global batch by %.3g", c->world, e);
    double el = run(c, APT_BN_LOCAL, true);
    TEST_CHECK(el > 1e-3, "local BN with W=%d should differ from the global batch (got %.3g)", c->world, el);
    int rc = c->rank == 0 ? apt_test_finish("test_syncbn_mpi") : (apt_test_failures ? 1 : 0);
    apt_comm_finalize(c);
    return rc;
}
