// test_trainer.c — the training contracts of DESIGN §1 on a tiny synthetic dataset (synth_data.h):
//   exactness:   5 steps on W ranks (this mpirun's world) == 5 steps in one process with the same global
//                batch, per tensor ||w_W - w_1||_2 <= 1e-5 ||w_1||_2, BN buffers included (only the float summation order of the
//                all-gather / reduce-scatter / gradient all-reduce differs), for BN frozen and sync;
//   determinism: the same run twice on the same W is bitwise identical;
//   resume:      pre-empted at step 3 (checkpoint + APT_EXIT_REQUEUE), resumed with resume=auto to step 5,
//                bitwise equal to the uninterrupted run — weights, BN buffers and Adam m/v.
// Runs under ctest with np 1, 2 and 4.
#include "harness.h"
#include "train_fixture.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <string.h>
#include <unistd.h>

typedef struct {
    float *w, *buffers, *m, *v;
    size_t n, nb;
    AptParam *p; // copy of the registry (names, offsets)
    int np;
} Snapshot;

static Snapshot snap(AptParamStore *ps) {
    Snapshot s = {0};
    s.n = ps->numel, s.nb = ps->buffers_numel;
    s.w = malloc(s.n * 4), s.m = malloc(s.n * 4), s.v = malloc(s.n * 4), s.buffers = malloc((s.nb ? s.nb : 1) * 4);
    memcpy(s.w, ps->w, s.n * 4);
    memcpy(s.m, ps->m, s.n * 4);
    if (ps->v) memcpy(s.v, ps->v, s.n * 4);
    else memset(s.v, 0, s.n * 4);
    memcpy(s.buffers, ps->buffers, s.nb * 4);
    s.np = ps->n;
    s.p = malloc((size_t)ps->n * sizeof *s.p);
    memcpy(s.p, ps->p, (size_t)ps->n * sizeof *s.p);
    return s;
}

static void snap_free(Snapshot *s) { free(s->w), free(s->m), free(s->v), free(s->buffers), free(s->p); }

// The shared small run (train_fixture.h) with Adam (lr 1e-3, weight decay 4e-4, head lr x2) and BN mode bn.
static void base_config(AptConfig *cfg, const TrainDirs *d, const char *name, AptBNMode bn) {
    train_config_base(cfg, d, name);
    cfg->seed = 42;
    cfg->model.bn = bn;
    cfg->optim.name = APT_OPT_ADAM;
    cfg->optim.lr = 1e-3;
    cfg->optim.weight_decay = 4e-4;
    cfg->optim.fc_lr_mul = 2;
}

static Snapshot train(const AptConfig *cfg, AptComm *c, long preempt_at, int *rc) {
    AptTrainerOptions o = {.quiet = true, .no_eval = true, .preempt_at_step = preempt_at};
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    *rc = apt_trainer_run(t);
    Snapshot s = snap(apt_trainer_params(t));
    apt_trainer_destroy(t);
    return s;
}

// Per tensor: max|a - b| <= tol * max|b| (tol 0: bitwise).
static void compare(const Snapshot *a, const Snapshot *b, double tol, const char *what) {
    double worst = 0;
    int bad = 0;
    TEST_CHECK(a->np == b->np && a->n == b->n, "%s: different models", what);
    for (int i = 0; i < a->np; i++) {
        const AptParam *p = &a->p[i];
        for (int which = 0; which < (p->is_buffer ? 1 : 3); which++) {
            const float *x = p->is_buffer ? a->buffers : which == 0 ? a->w : which == 1 ? a->m : a->v;
            const float *y = p->is_buffer ? b->buffers : which == 0 ? b->w : which == 1 ? b->m : b->v;
            x += p->offset, y += p->offset;
            if (tol == 0) {
                if (memcmp(x, y, p->numel * 4) != 0 && bad++ < 5)
                    fprintf(stderr, "  %s: %s (%s) differs bitwise\n", what, p->name, which == 0 ? "w" : which == 1 ? "m" : "v");
                continue;
            }
            if (which) continue; // weights only for the tolerance check: Adam's m/v follow the gradients
            // Relative error of the tensor: ||x - y||_2 / ||y||_2 (an elementwise ratio would be dominated by
            // tensors that start at zero and moved by a few Adam steps of size lr, e.g. BN biases).
            double d2 = 0, y2 = 0, dmax = 0;
            for (size_t k = 0; k < p->numel; k++) {
                double d = fabs((double)x[k] - y[k]);
                d2 += d * d;
                y2 += (double)y[k] * y[k];
                if (d > dmax) dmax = d;
            }
            double r = y2 > 0 ? sqrt(d2 / y2) : sqrt(d2);
            if (r > worst) worst = r;
            if (getenv("APT_TEST_VERBOSE")) printf("    %-28s rel %.3g max|diff| %.3g\n", p->name, r, dmax);
            if (!(r <= tol) && bad++ < 5) fprintf(stderr, "  %s: %s ||diff||/||w|| = %.3g\n", what, p->name, r);
        }
    }
    TEST_CHECK(bad == 0, "%s: %d tensors outside tolerance %g", what, bad, tol);
    if (tol > 0) printf("%s: worst per-tensor ||diff||/||w|| = %.3g (tol %g)\n", what, worst, tol);
    else printf("%s: bitwise identical: %s\n", what, bad ? "NO" : "yes");
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_WARN, 0);
    apt_h5_init();
    TrainDirs d;
    train_dirs_make(c, "trainer", &d, 8, 16, 8, 28, 28, 1);
    AptComm *self = apt_comm_create_self();
    // Adam is invariant to the scale of the gradient, so a SUM/mean mix-up of the all-reduce would hide
    // behind it: the SGD case sees the gradient itself.
    AptBNMode modes[3] = {APT_BN_FROZEN, APT_BN_SYNC, APT_BN_FROZEN};
    const char *mode_name[3] = {"frozen", "sync", "frozen-sgd"};
    for (int mi = 0; mi < 3; mi++) {
        AptConfig cfg;
        char name[64], what[128];
        int rc;
        snprintf(name, sizeof name, "w%d_%s", c->world, mode_name[mi]);
        base_config(&cfg, &d, name, modes[mi]);
        if (mi == 2) cfg.optim.name = APT_OPT_SGD, cfg.optim.lr = 0.05, cfg.optim.momentum = 0.9;
        Snapshot a = train(&cfg, c, 0, &rc);
        TEST_CHECK(rc == 0, "run status %d", rc);

        if (c->rank == 0) {
            // One process, the whole global batch.
            AptConfig one = cfg;
            snprintf(one.run_name, sizeof one.run_name, "w1ref_%d_%s", c->world, mode_name[mi]);
            Snapshot r = train(&one, self, 0, &rc);
            snprintf(what, sizeof what, "BN %s: W=%d vs W=1 after 5 steps", mode_name[mi], c->world);
            compare(&a, &r, 1e-5, what);
            snap_free(&r);
        }
        // Determinism: the same run again.
        snprintf(cfg.run_name, sizeof cfg.run_name, "%s_again", name);
        Snapshot b = train(&cfg, c, 0, &rc);
        if (c->rank == 0) {
            snprintf(what, sizeof what, "BN %s: W=%d run twice", mode_name[mi], c->world);
            compare(&a, &b, 0, what);
        }
        // Resume: pre-empted before step 4 (3 steps done), then resume=auto in the same run directory.
        snprintf(cfg.run_name, sizeof cfg.run_name, "%s_resumed", name);
        Snapshot p = train(&cfg, c, 3, &rc);
        TEST_CHECK(rc == APT_EXIT_REQUEUE, "pre-empted run returned %d, want %d", rc, APT_EXIT_REQUEUE);
        snprintf(cfg.resume, sizeof cfg.resume, "auto");
        Snapshot q = train(&cfg, c, 0, &rc);
        TEST_CHECK(rc == 0, "resumed run status %d", rc);
        if (c->rank == 0) {
            snprintf(what, sizeof what, "BN %s: W=%d 3 steps + resume + 2 steps vs 5 steps", mode_name[mi], c->world);
            compare(&a, &q, 0, what);
        }
        snap_free(&a), snap_free(&b), snap_free(&p), snap_free(&q);
    }
    self->destroy(self);
    train_dirs_remove(c, &d);
    int rc = apt_test_finish("test_trainer");
    apt_comm_finalize(c);
    return rc;
}
