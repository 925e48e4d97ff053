// test_comm_staged.c — the staged communicator (dist/comm_staged.c) over buffers of the guard test
// backend, whose memory host code cannot read: every collective must reach it through the copy
// function only. Values are closed forms (as test_comm.c), under mpirun -np 1/2/4: all-gather and
// reduce-scatter in rank order, float64 all-reduce, three non-blocking all-reduces in flight with a
// blocking one between (the gradient buckets + sync BatchNorm pattern), bcast; the scratch is reused.
#include "backend/backend.h"
#include "dist/comm.h"
#include "dist/exchange.h"
#include "harness.h"

#include <string.h>

static void copy_fn(void *be_, void *dst, const void *src, size_t bytes, int dir) {
    AptBackend *be = be_;
    be->copy(be, dst, src, bytes, dir == APT_STAGE_D2H ? APT_COPY_D2H : dir == APT_STAGE_H2D ? APT_COPY_H2D : APT_COPY_D2D);
}

static void *up(AptBackend *be, const void *h, size_t bytes) {
    void *d = be->alloc(be, bytes);
    be->copy(be, d, h, bytes, APT_COPY_H2D);
    return d;
}

int main(int argc, char **argv) {
    AptComm *host = apt_comm_init_mpi(&argc, &argv);
    AptBackend *be = apt_backend_guard_create();
    AptComm *c = apt_comm_staged_create(host, copy_fn, be, 0);
    apt_comm_staged_reserve(c, 1 << 16);
    const int W = c->world, r = c->rank;
    TEST_CHECK(!strcmp(c->name, "staged") && c->host == host, "name / host communicator");

    for (int round = 0; round < 2; round++) { // the second round reuses the scratch
        enum { b = 3, D = 5 };
        float El[b * D], E[4 * b * D], dE[4 * b * D], dEl[b * D];
        for (int i = 0; i < b * D; i++) El[i] = 100.0f * (r * b + i / D) + (float)(i % D) + round;
        float *dEl_dev = up(be, El, sizeof El), *E_dev = be->alloc(be, sizeof E);
        apt_exchange_allgather(c, dEl_dev, E_dev, b, D);
        be->copy(be, E, E_dev, (size_t)W * b * D * 4, APT_COPY_D2H);
        int ok = 1;
        for (int i = 0; i < W * b * D; i++) ok &= E[i] == 100.0f * (i / D) + (float)(i % D) + round;
        TEST_CHECK(ok, "round %d: allgather in rank order", round);
        for (int i = 0; i < W * b * D; i++) dE[i] = (float)(i + r);
        float *dE_dev = up(be, dE, (size_t)W * b * D * 4), *dEl_out = be->alloc(be, sizeof dEl);
        apt_exchange_reduce_scatter(c, dE_dev, dEl_out, b, D);
        be->copy(be, dEl, dEl_out, sizeof dEl, APT_COPY_D2H);
        ok = 1;
        for (int i = 0; i < b * D; i++) ok &= dEl[i] == (float)(W * (r * b * D + i) + W * (W - 1) / 2);
        TEST_CHECK(ok, "round %d: reduce_scatter sum, this rank's block", round);

        // three buckets in flight, a blocking float64 all-reduce (BN sums) while they are
        float g[3][7];
        float *gd[3];
        AptCommReq q[3];
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < 7; i++) g[k][i] = (float)(k * 10 + i + r);
            gd[k] = up(be, g[k], sizeof g[k]);
            q[k] = c->iallreduce(c, gd[k], 7, APT_F32, APT_SUM);
        }
        double s[4] = {r, 1, 2.5, -r};
        double *sd = up(be, s, sizeof s);
        c->allreduce(c, sd, 4, APT_F64, APT_SUM);
        be->copy(be, s, sd, sizeof s, APT_COPY_D2H);
        TEST_CHECK(s[0] == W * (W - 1) / 2.0 && s[1] == W && s[2] == 2.5 * W && s[3] == -s[0],
                   "round %d: blocking f64 allreduce with buckets in flight", round);
        for (int k = 2; k >= 0; k--) c->wait(c, q[k]);
        ok = 1;
        for (int k = 0; k < 3; k++) {
            be->copy(be, g[k], gd[k], sizeof g[k], APT_COPY_D2H);
            for (int i = 0; i < 7; i++) ok &= g[k][i] == (float)(W * (k * 10 + i) + W * (W - 1) / 2);
        }
        TEST_CHECK(ok, "round %d: three non-blocking all-reduces", round);

        int bc[2] = {r == 1 % W ? 42 : -1, r == 1 % W ? 7 : -1};
        int *bcd = up(be, bc, sizeof bc);
        c->bcast(c, bcd, 2, APT_I32, 1 % W);
        be->copy(be, bc, bcd, sizeof bc, APT_COPY_D2H);
        TEST_CHECK(bc[0] == 42 && bc[1] == 7, "round %d: bcast from rank %d", round, 1 % W);
        be->free(be, dEl_dev), be->free(be, E_dev), be->free(be, dE_dev), be->free(be, dEl_out), be->free(be, sd);
        be->free(be, bcd);
        for (int k = 0; k < 3; k++) be->free(be, gd[k]);
    }
    c->destroy(c);
    apt_backend_destroy(be);
    int rc = apt_test_finish("test_comm_staged");
    apt_comm_finalize(host);
    return rc;
}
