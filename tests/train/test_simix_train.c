// test_simix_train.c — training with SiMix (loss.simix, src/loss/simix.h) and the Recall@k surrogate on the
// shared small run (train_fixture.h: B 32 = 8 classes x 4, so 48 virtual rows per step; SGD momentum 0.9),
// 6 steps:
//   trains:     the run ends normally with finite weights, and SiMix changes it (vs loss.simix false);
//   exactness:  on W ranks (this mpirun's world) == one process with the same global batch: per tensor
//               ||w_W - w_1||_2 <= 1e-5 ||w_1||_2 (float summation order only: the alphas are the same on
//               every rank, keyed by (seed, epoch, step, pair));
//   resume:     pre-empted at step 3 and resumed (resume=auto) == the uninterrupted run, bitwise (weights and
//               momentum): the alphas are a function of the step, not of state carried in memory.
// Runs under ctest with np 1, 2 and 4.
#include "core/log.h"
#include "dist/comm.h"
#include "h5/h5check.h"
#include "harness.h"
#include "train/trainer.h"
#include "train_fixture.h"

#include <string.h>

typedef struct {
    float *w, *m;
    size_t n;
    AptParam *p;
    int np;
} Snapshot;

static Snapshot train(const AptConfig *cfg, AptComm *c, long preempt_at, int *rc) {
    AptTrainerOptions o = {.quiet = true, .no_eval = true, .preempt_at_step = preempt_at};
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    *rc = apt_trainer_run(t);
    AptParamStore *ps = apt_trainer_params(t);
    Snapshot s = {.n = ps->numel, .np = ps->n};
    s.w = malloc(s.n * 4), s.m = malloc(s.n * 4);
    memcpy(s.w, ps->w, s.n * 4);
    memcpy(s.m, ps->m, s.n * 4);
    s.p = malloc((size_t)ps->n * sizeof *s.p);
    memcpy(s.p, ps->p, (size_t)ps->n * sizeof *s.p);
    apt_trainer_destroy(t);
    return s;
}

static void snap_free(Snapshot *s) {
    free(s->w), free(s->m), free(s->p);
}

// Per tensor: within tol, or (tol 0) weights and momentum bitwise.
static void compare(const Snapshot *a, const Snapshot *b, double tol, const char *what) {
    double worst = 0;
    TEST_CHECK(a->np == b->np && a->n == b->n, "%s: different models", what);
    int bad = a->np == b->np ? train_params_differ(a->p, a->np, a->w, a->m, b->w, b->m, tol, what, &worst) : 1;
    TEST_CHECK(bad == 0, "%s: %d tensors differ (tol %g)", what, bad, tol);
    if (tol > 0)
        printf("%s: worst per-tensor ||diff||/||w|| = %.3g (tol %g)\n", what, worst, tol);
    else
        printf("%s: bitwise identical (weights, momentum): %s\n", what, bad ? "NO" : "yes");
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_WARN, 0);
    apt_h5_init();
    TrainDirs d;
    train_dirs_make(c, "simix_train", &d, 8, 16, 8, 28, 28, 1);
    AptComm *self = apt_comm_create_self();
    char name[96], what[160];
    int rc;
    AptConfig cfg;
    snprintf(name, sizeof name, "w%d_simix", c->world);
    train_config_base(&cfg, &d, name);
    snprintf(cfg.loss.name, sizeof cfg.loss.name, "recallk");
    cfg.loss.simix = true;
    cfg.schedule.max_steps = 6;
    Snapshot a = train(&cfg, c, 0, &rc);
    TEST_CHECK(rc == 0, "simix run status %d", rc);
    int finite = 1;
    for (size_t k = 0; k < a.n; k++)
        finite &= isfinite(a.w[k]) != 0;
    TEST_CHECK(finite, "simix run: weights not finite");

    if (c->rank == 0 && c->world > 1) {
        AptConfig one = cfg;
        snprintf(one.run_name, sizeof one.run_name, "w1ref_%d_simix", c->world);
        Snapshot r = train(&one, self, 0, &rc);
        snprintf(what, sizeof what, "recallk + simix: W=%d vs W=1 after 6 steps", c->world);
        compare(&a, &r, 1e-5, what);
        snap_free(&r);
    }

    // Resume: pre-empted before step 4, resume=auto.
    snprintf(cfg.run_name, sizeof cfg.run_name, "%s_resumed", name);
    Snapshot p = train(&cfg, c, 3, &rc);
    TEST_CHECK(rc == APT_EXIT_REQUEUE, "pre-empted run returned %d, want %d", rc, APT_EXIT_REQUEUE);
    snprintf(cfg.resume, sizeof cfg.resume, "auto");
    Snapshot q = train(&cfg, c, 0, &rc);
    TEST_CHECK(rc == 0, "resumed run status %d", rc);
    snprintf(what, sizeof what, "recallk + simix: W=%d 3 steps + resume + 3 steps vs 6 steps", c->world);
    if (c->rank == 0) compare(&q, &a, 0, what);
    snap_free(&p), snap_free(&q);

    // Off: SiMix changes the run.
    AptConfig off = cfg;
    snprintf(off.resume, sizeof off.resume, "never");
    off.loss.simix = false;
    snprintf(off.run_name, sizeof off.run_name, "%s_off", name);
    Snapshot o = train(&off, c, 0, &rc);
    if (c->rank == 0) {
        TEST_CHECK(memcmp(a.w, o.w, a.n * 4) != 0, "simix does not change the run");
        printf("simix vs none: ||diff||/||w|| of the weights %.3g (SiMix matters)\n", train_rel(a.w, o.w, a.n));
    }
    snap_free(&o), snap_free(&a);
    self->destroy(self);
    train_dirs_remove(c, &d);
    rc = apt_test_finish("test_simix_train");
    apt_comm_finalize(c);
    return rc;
}
