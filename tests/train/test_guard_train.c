// test_guard_train.c — device residency, proven without a GPU (DESIGN §2): the same short training run
// on the plain CPU backend and on the guard backend (APT_GUARD_BACKEND=1: the CPU kernels over memory
// host code cannot read, src/backend/guard/) must agree BITWISE. Any host dereference of parameters,
// gradients, optimizer state, BN statistics, E/dE or the loss scalars outside the op table (trainer,
// optimizer, clip, loss, BN, checkpoint, evaluator, communicator) kills the guarded run with SIGSEGV;
// any staging mistake (a wrong copy direction or size) changes the bits.
//
// Per case (BN sync + Adam; BN frozen + SGD momentum with gradient clipping active; the latter with recallk +
// SiMix, loss.simix), every rank count of
// this mpirun (W = 1 and 2 under ctest; the device communicator stages through host scratch under the
// guard, as a GPU run with dist.backend mpi must):
//   cpu:   3 steps, pre-empted (checkpoint), resume=auto to 5 steps, final evaluation;
//   guard: the same on the guard backend;
//   mixed: 3 steps on the guard (its checkpoint), resumed on the cpu backend to 5 steps;
//   mixed2: 3 steps on the cpu backend, resumed on the guard to 5 steps.
// Compared bitwise: weights, BN buffers, Adam/SGD state; metrics.jsonl (per-step losses and learning
// rates, evaluation metrics; timings removed); the final Recall@K values.
#include "harness.h"
#include "run_result.h"
#include "train_fixture.h"
#include "backend/backend.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef RunResult Result;

// The shared small run (train_fixture.h); variant 0: BN sync + Adam; 1: BN frozen + SGD momentum, clipping.
static void base_config(AptConfig *cfg, const TrainDirs *d, const char *name, int variant) {
    train_config_base(cfg, d, name);
    if (variant == 0) {
        cfg->model.bn = APT_BN_SYNC;
        cfg->optim.name = APT_OPT_ADAM;
        cfg->optim.lr = 1e-3;
        cfg->optim.weight_decay = 4e-4;
        cfg->optim.fc_lr_mul = 2;
    } else { // 1, and 2: the same with recallk + SiMix (its plan uploads and mix ops)
        cfg->model.bn = APT_BN_FROZEN;
        cfg->optim.name = APT_OPT_SGD;
        cfg->optim.lr = 0.05;
        cfg->optim.momentum = 0.9;
        cfg->optim.clip_grad_norm = 1e-3; // far below the gradient norm: clipping scales every step
    }
    if (variant == 2) {
        snprintf(cfg->loss.name, sizeof cfg->loss.name, "recallk");
        cfg->loss.simix = true;
    }
}

static void use_guard(bool on) {
    if (on)
        setenv("APT_GUARD_BACKEND", "1", 1);
    else
        unsetenv("APT_GUARD_BACKEND");
}

static int run(const AptConfig *cfg, AptComm *c, long preempt_at, Result *r) {
    // quiet = false: rank 0 writes metrics.jsonl (per-step losses, evaluations), which is compared
    AptTrainerOptions o = {.quiet = false, .no_eval = false, .preempt_at_step = preempt_at};
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    const char *want = getenv("APT_GUARD_BACKEND") ? "guard" : "cpu";
    TEST_CHECK(apt_trainer_params(t)->be && !strcmp(apt_trainer_params(t)->be->name, want),
               "%s: trained on backend %s, want %s", cfg->run_name,
               apt_trainer_params(t)->be ? apt_trainer_params(t)->be->name : "(none)", want);
    int rc = apt_trainer_run(t);
    if (r) {
        apt_params_host_mirror(apt_trainer_params(t), &r->h);
        for (int i = 0; i < APT_LIST_MAX; i++) r->recall[i] = apt_trainer_last_recall(t, i);
    }
    apt_trainer_destroy(t);
    return rc;
}

static void full_run(const AptConfig *base, AptComm *c, const char *out, const char *name, bool guard_first,
                     bool guard_second, Result *r) {
    AptConfig cfg = *base;
    snprintf(cfg.run_name, sizeof cfg.run_name, "%s", name);
    use_guard(guard_first);
    int rc = run(&cfg, c, 3, NULL);
    TEST_CHECK(rc == APT_EXIT_REQUEUE, "%s: pre-empted run returned %d", name, rc);
    snprintf(cfg.resume, sizeof cfg.resume, "auto");
    use_guard(guard_second);
    rc = run(&cfg, c, 0, r);
    TEST_CHECK(rc == 0, "%s: resumed run returned %d", name, rc);
    use_guard(false);
    r->metrics = c->rank == 0 ? run_read_metrics(out, name) : strdup("");
}

static void compare(const Result *a, const Result *b, const char *what) {
    int failed = run_compare(a, b, what);
    TEST_CHECK(strstr(a->metrics, "\"type\":\"eval\"") != NULL || a->metrics[0] == 0, "%s: no evaluation recorded",
               what);
    printf("%s: bitwise identical (weights, buffers, optimizer state, losses, metrics): %s\n", what,
           failed ? "NO" : "yes");
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_ERROR, 0); // (the leaderboard's "no published figures" warning)
    apt_h5_init();
    TrainDirs d;
    train_dirs_make(c, "guard_train", &d, 8, 16, 8, 28, 28, 1);
    const char *out = d.out;
    const char *vname[3] = {"sync-adam", "frozen-sgd-clip", "recallk-simix"};
    for (int v = 0; v < 3; v++) {
        AptConfig cfg;
        char n[4][64], what[160];
        base_config(&cfg, &d, "x", v);
        snprintf(n[0], sizeof n[0], "cpu_%s", vname[v]);
        snprintf(n[1], sizeof n[1], "guard_%s", vname[v]);
        snprintf(n[2], sizeof n[2], "mixed_%s", vname[v]);
        snprintf(n[3], sizeof n[3], "mixed2_%s", vname[v]);
        Result a = {0}, b = {0}, m = {0}, m2 = {0};
        full_run(&cfg, c, out, n[0], false, false, &a);
        full_run(&cfg, c, out, n[1], true, true, &b);
        full_run(&cfg, c, out, n[2], true, false, &m);
        full_run(&cfg, c, out, n[3], false, true, &m2);
        // Rank 0 writes metrics.jsonl (others compare empty strings): it must hold the steps and an evaluation.
        TEST_CHECK(c->rank != 0 || (strstr(a.metrics, "\"type\":\"eval\"") && strstr(a.metrics, "\"loss\"")),
                   "%s: metrics.jsonl has no step losses or no evaluation:\n%s", n[0], a.metrics);
        snprintf(what, sizeof what, "W=%d %s: guard vs cpu", c->world, vname[v]);
        compare(&b, &a, what);
        snprintf(what, sizeof what, "W=%d %s: guard checkpoint resumed on cpu vs cpu", c->world, vname[v]);
        compare(&m, &a, what);
        snprintf(what, sizeof what, "W=%d %s: cpu checkpoint resumed on guard vs cpu", c->world, vname[v]);
        compare(&m2, &a, what);
        run_result_free(&a), run_result_free(&b), run_result_free(&m), run_result_free(&m2);
    }
    train_dirs_remove(c, &d);
    int rc = apt_test_finish("test_guard_train");
    apt_comm_finalize(c);
    return rc;
}
