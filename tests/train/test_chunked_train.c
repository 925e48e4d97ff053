// test_chunked_train.c — train.chunk (the chunk loop of the one step, src/train/step.c) gives the gradients of
// the one-pass step with frozen BatchNorm, at every world size of this mpirun (W = 1 and 2 under ctest),
// on the plain CPU backend and on the guard backend (APT_GUARD_BACKEND=1: memory host code cannot read,
// so the chunked path is proven device-resident).
//
// ResNet-18, 32x32x3 synthetic images, B = 32 (m = 4), SGD, one step. The parameter gradients after the
// step (ps->g, the all-reduced sum, before any clipping: clip is off) are compared:
//   - loss: within 1e-5 relative (measured ~5e-7 at W = 1 and 2: the same size as the difference between
//     the one-pass W = 1 and W = 2 runs). Not bitwise: oneDNN's convolutions and OpenBLAS's GEMM pick
//     kernels by batch size, so a sample's embedding rounds differently in a chunk of 5 than in a batch
//     of 32 (the same effect as changing W, DESIGN §1);
//   - gradients: max |g_chunked - g_one| <= 1e-5 * max |g_one| over all parameters (measured 0.9e-6 at
//     W = 1, 1.5e-6 at W = 2): the embedding rounding above, plus the weight gradient summed per chunk
//     and then over chunks instead of over all b samples in one reduction;
//   - chunk 5 (uneven: chunks 5,5,...,2 at W = 1 and 5,5,5,1 at W = 2); frozen and frozen_affine BN;
//     precision bf16 with gradients within 5e-3 of the largest (BF16_TOL below; loss still 1e-5);
//   - guard chunked vs cpu chunked: bitwise (the same kernels on the same values);
//   - at W = 2, rank 0 also trains the whole batch alone: W = 2 vs W = 1 gradients, fp32 and bf16, within
//     the same bounds (W-invariance up to fp32 rounding in fp32, up to bf16 rounding in bf16).
#include "harness.h"
#include "train_fixture.h"
#include "backend/backend.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// bf16: each conv re-rounds its input, weights and output gradient to bf16, so an fp32 difference in
// the last bit (another batch split) moves some values by one bf16 ulp (2^-8 relative): gradients then
// agree to bf16 rounding, not fp32 rounding (measured 1.2e-3..1.6e-3 of the largest entry).
#define BF16_TOL 5e-3

typedef struct {
    float *g; // host copy of the gradient buffer
    size_t n;
    char loss[64]; // step 1's loss as written to metrics.jsonl (rank 0)
} Grad;

static void base_config(AptConfig *cfg, const char *root, const char *out) {
    apt_config_defaults(cfg);
    snprintf(cfg->data.root, sizeof cfg->data.root, "%s", root);
    snprintf(cfg->out_dir, sizeof cfg->out_dir, "%s", out);
    snprintf(cfg->model.arch, sizeof cfg->model.arch, "resnet18");
    snprintf(cfg->resume, sizeof cfg->resume, "never");
    cfg->seed = 11;
    cfg->device = APT_DEVICE_CPU;
    cfg->model.embed_dim = 32;
    cfg->model.bn = APT_BN_FROZEN;
    cfg->data.batch_size = 32;
    cfg->data.samples_per_class = 4;
    cfg->data.threads = 1;
    cfg->data.prefetch = 2;
    cfg->optim.name = APT_OPT_SGD;
    cfg->optim.lr = 0.01;
    cfg->schedule.name = APT_SCHED_CONSTANT;
    cfg->schedule.max_steps = 1;
    cfg->eval.every_epochs = 0;
    cfg->checkpoint.every_epochs = 0;
    cfg->checkpoint.keep = 1;
    cfg->logging.every_steps = 1;
}

static void read_loss(const char *out, const char *name, char *dst, size_t cap) {
    char p[1024], line[4096];
    snprintf(p, sizeof p, "%s/%s/metrics.jsonl", out, name);
    dst[0] = 0;
    FILE *f = fopen(p, "rb");
    if (!f) return;
    if (fgets(line, sizeof line, f)) {
        char *s = strstr(line, "\"loss\":");
        if (s) {
            s += 7;
            size_t k = strcspn(s, ",}");
            snprintf(dst, cap, "%.*s", (int)(k < cap ? k : cap - 1), s);
        }
    }
    fclose(f);
}

static void run(AptConfig cfg, AptComm *c, const char *out, const char *name, int chunk, bool guard, Grad *r) {
    snprintf(cfg.run_name, sizeof cfg.run_name, "%s", name);
    cfg.train.chunk = chunk;
    if (guard)
        setenv("APT_GUARD_BACKEND", "1", 1);
    else
        unsetenv("APT_GUARD_BACKEND");
    AptTrainerOptions o = {.quiet = false, .no_eval = true}; // not quiet: metrics.jsonl has the loss
    AptTrainer *t = apt_trainer_create(&cfg, c, &o);
    AptParamStore *ps = apt_trainer_params(t);
    TEST_CHECK(!strcmp(ps->be->name, guard ? "guard" : "cpu"), "%s: backend %s", name, ps->be->name);
    int rc = apt_trainer_run(t);
    TEST_CHECK(rc == 0, "%s: run returned %d", name, rc);
    r->n = ps->numel;
    r->g = malloc(r->n * sizeof(float));
    ps->be->copy(ps->be, r->g, ps->g, r->n * sizeof(float), APT_COPY_D2H); // explicit staging copy
    apt_trainer_destroy(t);
    unsetenv("APT_GUARD_BACKEND");
    if (c->rank == 0) read_loss(out, name, r->loss, sizeof r->loss);
}

static void compare(const Grad *a, const Grad *ref, const char *what, bool want_bitwise, double tol, int rank) {
    double gmax = 0, dmax = 0;
    size_t differ = 0;
    for (size_t i = 0; i < ref->n; i++) {
        gmax = fmax(gmax, fabs(ref->g[i]));
        double d = fabs((double)a->g[i] - ref->g[i]);
        if (a->g[i] != ref->g[i]) differ++;
        if (!(d <= dmax)) dmax = isnan(d) ? INFINITY : fmax(dmax, d);
    }
    TEST_CHECK(gmax > 0, "%s: zero gradient", what);
    if (want_bitwise)
        TEST_CHECK(differ == 0, "%s: %zu of %zu gradient values differ (want bitwise)", what, differ, ref->n);
    else
        TEST_CHECK(dmax <= tol * gmax, "%s: max |dg| %.3g > %.0e * max |g| %.3g", what, dmax, tol, gmax);
    if (rank == 0) {
        double la = a->loss[0] ? atof(a->loss) : NAN, lr = ref->loss[0] ? atof(ref->loss) : NAN;
        if (want_bitwise)
            TEST_CHECK(a->loss[0] && !strcmp(a->loss, ref->loss), "%s: loss %s vs %s (want equal)", what, a->loss,
                       ref->loss);
        else
            TEST_CHECK(fabs(la - lr) <= 1e-5 * fabs(lr), "%s: loss %s vs %s (want within 1e-5 relative)", what,
                       a->loss, ref->loss);
        printf("%s: loss %s vs %s; gradients: %zu of %zu values differ, max |dg| / max |g| = %.3g\n", what,
               a->loss, ref->loss, differ, ref->n, gmax > 0 ? dmax / gmax : 0.0);
    }
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_ERROR, 0);
    apt_h5_init();
    TrainDirs d;
    train_dirs_make(c, "chunked_train", &d, 8, 8, 4, 32, 32, 3);
    const char *root = d.root, *out = d.out;
    AptConfig cfg;
    base_config(&cfg, root, out);
    AptConfig affine = cfg, bf16 = cfg;
    affine.model.bn = APT_BN_FROZEN_AFFINE;
    bf16.precision = APT_PREC_BF16;
    Grad one = {0}, c5 = {0}, g5 = {0}, gone = {0}, a1 = {0}, a5 = {0}, h1 = {0}, h5 = {0};
    run(cfg, c, out, "one_pass", 0, false, &one);
    run(cfg, c, out, "chunk5", 5, false, &c5);
    run(cfg, c, out, "guard_chunk5", 5, true, &g5);
    run(cfg, c, out, "guard_one_pass", 0, true, &gone);
    run(affine, c, out, "affine_one_pass", 0, false, &a1);
    run(affine, c, out, "affine_chunk5", 5, false, &a5);
    run(bf16, c, out, "bf16_one_pass", 0, false, &h1);
    run(bf16, c, out, "bf16_chunk5", 5, false, &h5);
    char what[128];
    snprintf(what, sizeof what, "W=%d resnet18 frozen BN: chunk 5 vs one pass", c->world);
    compare(&c5, &one, what, false, 1e-5, c->rank);
    snprintf(what, sizeof what, "W=%d guard chunk 5 vs cpu chunk 5", c->world);
    compare(&g5, &c5, what, true, 0, c->rank);
    snprintf(what, sizeof what, "W=%d guard chunk 5 vs guard one pass", c->world);
    compare(&g5, &gone, what, false, 1e-5, c->rank);
    snprintf(what, sizeof what, "W=%d resnet18 frozen_affine BN: chunk 5 vs one pass", c->world);
    compare(&a5, &a1, what, false, 1e-5, c->rank);
    snprintf(what, sizeof what, "W=%d resnet18 bf16: chunk 5 vs one pass", c->world);
    compare(&h5, &h1, what, false, BF16_TOL, c->rank);
    if (c->world > 1) {
        // W-invariance, fp32 and bf16: rank 0 also runs the whole global batch alone (a self
        // communicator); the W-rank gradients (all-reduced: the same on every rank) must match.
        c->barrier(c);
        if (c->rank == 0) {
            AptComm *self = apt_comm_create_self();
            Grad w1 = {0}, w1h = {0};
            run(cfg, self, out, "w1_one_pass", 0, false, &w1);
            run(bf16, self, out, "w1_bf16_one_pass", 0, false, &w1h);
            snprintf(what, sizeof what, "W=%d vs W=1 fp32 one pass", c->world);
            compare(&one, &w1, what, false, 1e-5, 0);
            snprintf(what, sizeof what, "W=%d vs W=1 bf16 one pass", c->world);
            compare(&h1, &w1h, what, false, BF16_TOL, 0);
            snprintf(what, sizeof what, "W=%d chunk 5 vs W=1 one pass, bf16", c->world);
            compare(&h5, &w1h, what, false, BF16_TOL, 0);
            free(w1.g), free(w1h.g);
            self->destroy(self);
        }
        c->barrier(c);
    }
    free(one.g), free(c5.g), free(g5.g), free(gone.g), free(a1.g), free(a5.g), free(h1.g), free(h5.g);
    train_dirs_remove(c, &d);
    int rc = apt_test_finish("test_chunked_train");
    apt_comm_finalize(c);
    return rc;
}
