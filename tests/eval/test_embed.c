// test_embed.c — distributed extraction (mpirun -np 1, 2, 4): every rank gets the whole split's
// embeddings in global order; labels and ids exactly those of the manifest; each row equals an
// independent forward of that one sample, whose input the test builds itself from the synthetic pixel
// function (HWC bytes -> CHW / 255), within 1e-5 (float32 results of a forward may depend on the batch
// composition in the last bits, ~1e-7 on unit vectors; a wrong sample, order or transform is off by O(1)).
#define _GNU_SOURCE
#include "backend/backend.h"
#include "core/check.h"
#include "core/fsutil.h"
#include "data/synth.h"
#include "eval/eval.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    enum { N = 37, H = 6, W = 5, C = 3, K = 5, D = 8 };
    char dir[256] = "/tmp/apt_embed_XXXXXX";
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = (i * 7) % K;
    if (c->rank == 0) {
        APT_CHECK(mkdtemp(dir), "mkdtemp");
        synth_write(dir, "test", N, H, W, C, K, labels, 10);
    }
    c->bcast(c, dir, sizeof dir, APT_U8, 0);

    AptBackend *be = apt_backend_create("cpu");
    AptComm *self = apt_comm_create_self();
    AptModelConfig mc;
    memset(&mc, 0, sizeof mc);
    strcpy(mc.arch, "smallcnn");
    mc.embed_dim = D;
    mc.bn = APT_BN_FROZEN;
    mc.head_init_std = 0.1;
    mc.width = 4;
    const int fwd_max = 3; // smaller than the loader batch: batches are split for the forward
    AptModel *model = apt_model_create(&mc, be, self, fwd_max, C, H, W, 11);

    AptLoaderOptions lo;
    apt_loader_options_default(&lo);
    lo.dir = dir;
    lo.split = "test";
    lo.batch_size = 4;
    lo.threads = 2;
    AptEmbeddings e;
    apt_eval_embed(c, model, fwd_max, &lo, &e);
    TEST_CHECK(e.N == N && e.D == D, "shape %lld x %d", (long long)e.N, e.D);

    float x[C * H * W], Er[D];
    double worst = 0;
    int bad_meta = 0;
    for (int i = 0; i < N; i++) {
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int ch = 0; ch < C; ch++)
                    x[(ch * H + h) * W + w] = synth_pixel(i, (size_t)(h * W + w) * C + ch) / 255.0f;
        apt_model_forward(model, x, 1, Er, false);
        for (int d = 0; d < D; d++)
            worst = fmax(worst, fabs((double)e.E[i * D + d] - Er[d]));
        bad_meta += e.labels[i] != labels[i] || e.ids[i] != i;
    }
    TEST_CHECK(bad_meta == 0, "W=%d: %d rows with a wrong label or id", c->world, bad_meta);
    TEST_CHECK(worst <= 1e-5, "W=%d: max |E - single-sample forward| %.3g > 1e-5", c->world, worst);
    if (c->rank == 0) printf("W=%d: %d rows, max |E - single-sample forward| %.3g\n", c->world, N, worst);

    apt_embeddings_free(&e);
    apt_model_destroy(model);
    apt_backend_destroy(be);
    self->destroy(self);
    c->barrier(c);
    if (c->rank == 0) apt_rm_rf(dir);
    int rc = apt_test_finish("test_embed");
    apt_comm_finalize(c);
    return rc;
}
