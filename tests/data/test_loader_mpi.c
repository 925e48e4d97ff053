// test_loader_mpi.c — under mpirun -np W: every rank derives the same global plan without communication.
// Rank 0 writes a synthetic dataset; each rank loads its slice with 2 threads; the all-gathered ids and
// images equal, bitwise, the batches a single-rank loader (world 1) produces in every process, across an
// epoch boundary, and every rank sees the same labels_global.
#include "data/loader.h"
#include "dist/comm.h"
#include "harness.h"
#include "synth.h"

#include <unistd.h>

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    const int W = c->world, r = c->rank;
    int64_t pid = getpid();
    c->bcast(c, &pid, 1, APT_I64, 0);
    char root[128];
    snprintf(root, sizeof root, "/tmp/apt_loader_mpi_%lld", (long long)pid);
    enum { N = 120, H = 6, W_ = 5, C = 3, K = 10, B = 16 };
    if (r == 0) {
        int32_t labels[N];
        for (int i = 0; i < N; i++)
            labels[i] = (i * 3 + i / 11) % K;
        synth_write(root, "train", N, H, W_, C, K, labels, 25);
    }
    c->barrier(c);

    AptLoaderOptions o;
    apt_loader_options_default(&o);
    o.dir = root;
    o.batch_size = B;
    o.samples_per_class = 4;
    o.seed = 2024;
    o.threads = 2;
    for (int k = 0; k < 3; k++)
        o.mean[k] = o.std[k] = 0.5f;
    AptLoader *one = apt_loader_create(&o);
    o.rank = r;
    o.world = W;
    AptLoader *mine = apt_loader_create(&o);
    const int b = B / W, per = C * H * W_;
    float *x_all = malloc(sizeof(float) * B * per);
    int64_t ids_all[B];
    int32_t lab0[B];
    int steps = apt_loader_batches_per_epoch(one, 0) + 2, ok = 1, same_labels = 1;
    for (int t = 0; t < steps; t++) {
        const AptBatch *ref = apt_loader_next(one), *bt = apt_loader_next(mine);
        ok &= bt->b == b && bt->epoch == ref->epoch && bt->step == ref->step;
        c->allgather(c, bt->x, x_all, (size_t)b * per, APT_F32);
        c->allgather(c, bt->ids, ids_all, (size_t)b, APT_I64);
        ok &= !memcmp(x_all, ref->x, sizeof(float) * B * per) && !memcmp(ids_all, ref->ids, sizeof ids_all);
        memcpy(lab0, bt->labels_global, sizeof lab0);
        c->bcast(c, lab0, B, APT_I32, 0);
        same_labels &= !memcmp(lab0, bt->labels_global, sizeof lab0);
    }
    TEST_CHECK(ok, "rank %d/%d: gathered slices differ from the single-rank batches", r, W);
    TEST_CHECK(same_labels, "rank %d/%d: labels_global differs from rank 0's", r, W);
    apt_loader_destroy(one);
    apt_loader_destroy(mine);
    free(x_all);
    int fails = apt_test_failures;
    c->allreduce(c, &fails, 1, APT_I32, APT_SUM);
    c->barrier(c);
    if (r == 0) apt_rm_rf(root);
    int rc = apt_test_finish("test_loader_mpi");
    apt_comm_finalize(c);
    return fails ? 1 : rc;
}
