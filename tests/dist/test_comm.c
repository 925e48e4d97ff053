// test_comm.c — collectives of the MPI communicator (run under mpirun -np 1/2/4) and of comm_self:
// values are checked against closed forms, in rank order, with counts in elements.
#include "dist/comm.h"
#include "dist/exchange.h"
#include "harness.h"

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    const int W = c->world, r = c->rank;

    // allreduce sum / max in float64 and int32.
    double v[3] = {r, 1.0, -r};
    c->allreduce(c, v, 3, APT_F64, APT_SUM);
    TEST_CHECK(v[0] == W * (W - 1) / 2.0 && v[1] == W && v[2] == -W * (W - 1) / 2.0, "allreduce sum f64");
    int iv = r;
    c->allreduce(c, &iv, 1, APT_I32, APT_MAX);
    TEST_CHECK(iv == W - 1, "allreduce max i32: %d", iv);
    TEST_CHECK(apt_comm_sum_host(c, 0.5) == 0.5 * W, "sum_host");

    // exchange: rank r owns rows [r*b, (r+1)*b) with value 100*row + col.
    enum { b = 3, D = 5 };
    float El[b * D], E[4 * b * D], dE[4 * b * D], dEl[b * D];
    for (int i = 0; i < b; i++)
        for (int d = 0; d < D; d++) El[i * D + d] = 100.0f * (r * b + i) + d;
    apt_exchange_allgather(c, El, E, b, D);
    int ok = 1;
    for (int i = 0; i < W * b; i++)
        for (int d = 0; d < D; d++) ok &= E[i * D + d] == 100.0f * i + d;
    TEST_CHECK(ok, "allgather puts rows in global order");
    // every rank contributes (rank+1) to every element; row block r must come back to rank r.
    for (int i = 0; i < W * b * D; i++) dE[i] = (float)(r + 1) * (float)(i + 1);
    apt_exchange_reduce_scatter(c, dE, dEl, b, D);
    ok = 1;
    float s = W * (W + 1) / 2.0f;
    for (int i = 0; i < b * D; i++) ok &= dEl[i] == s * (float)(r * b * D + i + 1);
    TEST_CHECK(ok, "reduce_scatter returns this rank's block of the sum");

    // bcast from the last rank, async allreduce.
    int64_t big = r == W - 1 ? 1234567890123LL : 0;
    c->bcast(c, &big, 1, APT_I64, W - 1);
    TEST_CHECK(big == 1234567890123LL, "bcast i64");
    float g[1000];
    for (int i = 0; i < 1000; i++) g[i] = (float)i;
    AptCommReq req = c->iallreduce(c, g, 1000, APT_F32, APT_SUM);
    c->wait(c, req);
    ok = 1;
    for (int i = 0; i < 1000; i++) ok &= g[i] == (float)i * W;
    TEST_CHECK(ok, "iallreduce f32");
    c->barrier(c);

    // comm_self behaves as a world of one.
    AptComm *self = apt_comm_create_self();
    float sl[4] = {1, 2, 3, 4}, sg[4];
    self->allgather(self, sl, sg, 4, APT_F32);
    TEST_CHECK(self->world == 1 && sg[3] == 4, "self allgather");
    self->destroy(self);

    int rc = apt_test_finish("test_comm");
    apt_comm_finalize(c);
    return rc;
}
