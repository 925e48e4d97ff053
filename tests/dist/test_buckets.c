// test_buckets.c — bucketed all-reduce (dist/buckets.c) on the host communicator, bare or under mpirun -np 2/4:
// buckets start exactly when backward reports them final (never before, each once), and after
// apt_buckets_wait every element is the sum over ranks. Values are small integers in float32, so every
// sum is exact and compared with ==. Two steps run on the same buckets (re-arming).
#include "dist/buckets.h"
#include "harness.h"

#include <stdlib.h>

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_auto(&argc, &argv); // bare start (ctest -L gpu): comm_self, no MPI_Init
    const int W = c->world, r = c->rank;
    const size_t numel = 10007, cap = 1000; // 11 buckets, the first (lowest offsets) short
    float *g = malloc(numel * sizeof *g);
    AptBuckets *b = apt_buckets_create(c, g, numel, APT_F32, cap);
    TEST_CHECK(apt_buckets_count(b) == 11, "bucket count %d", apt_buckets_count(b));
    for (int step = 0; step < 2; step++) {
        for (size_t i = 0; i < numel; i++) g[i] = (float)((r + 1) * (int)(i % 97) + step);
        // "Backward" finishes layers of 333 elements from the end of the buffer.
        size_t lo = numel;
        int ok_order = 1;
        while (lo > 0) {
            lo = lo > 333 ? lo - 333 : 0;
            apt_buckets_ready_from(b, lo);
            // Buckets fully at or above lo must have started; none below.
            size_t covered = numel - (size_t)apt_buckets_launched(b) * cap;
            if (apt_buckets_launched(b) == apt_buckets_count(b)) covered = 0;
            ok_order &= covered >= lo && (lo == 0 || covered < lo + cap);
        }
        TEST_CHECK(ok_order, "step %d: buckets started exactly when their gradients were final", step);
        apt_buckets_wait(b);
        int ok = 1;
        for (size_t i = 0; i < numel; i++)
            ok &= g[i] == (float)((W * (W + 1) / 2) * (int)(i % 97) + W * step);
        TEST_CHECK(ok, "step %d: every element is the sum over %d ranks", step, W);
        TEST_CHECK(apt_buckets_launched(b) == 0, "step %d: re-armed", step);
    }
    apt_buckets_free(b);
    free(g);
    int rc = apt_test_finish("test_buckets");
    apt_comm_finalize(c);
    return rc;
}
