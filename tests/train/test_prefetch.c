// test_prefetch.c — the batch pipeline's ordering contract (src/train/step.c, backend.h upload/upload_wait):
// the trainer fetches batch k + 1 and issues its upload during step k (into the other input buffer) instead
// of at the step boundary. On cpu and guard the upload is a synchronous copy, so the run must be BITWISE the
// run that fetches each batch at its own step boundary (the test option sync_upload, the order before the
// prefetch existed) — across an epoch boundary, with evaluations and checkpoints between steps, and when a
// pre-emption at a step boundary leaves a prefetched batch unused (the resumed run's loader starts at the
// checkpoint's step, so the unused batch must not count as consumed).
//
// Runs (7 steps; 4 steps per epoch; eval every 2 steps; checkpoint every 3):
//   ref:      cpu, fetched at the step boundary, uninterrupted            (the old order)
//   cpu:      cpu, prefetched, uninterrupted
//   guard:    guard backend, prefetched, uninterrupted
//   guard-pe: guard, prefetched, pre-empted at step 4 (the prefetched batch is the next epoch's first),
//             resumed (resume: auto) to the end
//   cpu-pe:   cpu, prefetched, pre-empted at step 5 (after an evaluation), resumed
//   mixed:    cpu, old order pre-empted at step 3 (a checkpoint step), resumed prefetching
// Every run is compared with ref: weights, BN buffers, Adam m/v, final Recall@K, and metrics.jsonl (per-step
// losses and learning rates, evaluation metrics; timings removed).
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

// The shared small run (train_fixture.h) with sync BN, Adam, two loader threads, 7 steps, an evaluation
// every 2 steps and a checkpoint every 3.
static void base_config(AptConfig *cfg, const TrainDirs *d) {
    train_config_base(cfg, d, "run");
    cfg->seed = 11;
    cfg->model.bn = APT_BN_SYNC;
    cfg->data.threads = 2;
    cfg->schedule.max_steps = 7;
    cfg->eval.every_steps = 2;
    cfg->checkpoint.every_steps = 3;
    cfg->optim.name = APT_OPT_ADAM;
    cfg->optim.lr = 1e-3;
    cfg->optim.weight_decay = 4e-4;
}

static int run(const AptConfig *cfg, AptComm *c, bool guard, bool sync_upload, long preempt_at, Result *r) {
    if (guard)
        setenv("APT_GUARD_BACKEND", "1", 1);
    else
        unsetenv("APT_GUARD_BACKEND");
    // quiet = false: rank 0 writes metrics.jsonl (per-step losses, evaluations), which is compared
    AptTrainerOptions o = {.quiet = false, .preempt_at_step = preempt_at, .sync_upload = sync_upload};
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    const char *be = apt_trainer_params(t)->be ? apt_trainer_params(t)->be->name : "(none)";
    TEST_CHECK(!strcmp(be, guard ? "guard" : "cpu"), "%s: trained on backend %s", cfg->run_name, be);
    int rc = apt_trainer_run(t);
    if (r) {
        apt_params_host_mirror(apt_trainer_params(t), &r->h);
        for (int i = 0; i < APT_LIST_MAX; i++) r->recall[i] = apt_trainer_last_recall(t, i);
    }
    apt_trainer_destroy(t);
    unsetenv("APT_GUARD_BACKEND");
    return rc;
}

// One run; preempt_at > 0: pre-empted there (first part in the order sync_first), then resumed to the end.
static void full_run(const AptConfig *base, AptComm *c, const char *out, const char *name, bool guard,
                     bool sync_first, bool sync_after, long preempt_at, Result *r) {
    AptConfig cfg = *base;
    snprintf(cfg.run_name, sizeof cfg.run_name, "%s", name);
    if (preempt_at > 0) {
        int rc = run(&cfg, c, guard, sync_first, preempt_at, NULL);
        TEST_CHECK(rc == APT_EXIT_REQUEUE, "%s: pre-empted run returned %d", name, rc);
        snprintf(cfg.resume, sizeof cfg.resume, "auto");
    }
    int rc = run(&cfg, c, guard, sync_after, 0, r);
    TEST_CHECK(rc == APT_EXIT_OK, "%s: run returned %d", name, rc);
    r->metrics = c->rank == 0 ? run_read_metrics(out, name) : strdup("");
}

static void compare(const Result *a, const Result *ref, const char *what) {
    printf("%s: bitwise identical to the old order: %s\n", what, run_compare(a, ref, what) ? "NO" : "yes");
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_ERROR, 0);
    apt_h5_init();
    TrainDirs d;
    train_dirs_make(c, "prefetch", &d, 8, 16, 8, 28, 28, 1);
    const char *out = d.out;
    AptConfig cfg;
    base_config(&cfg, &d);
    Result ref, r[5];
    memset(&ref, 0, sizeof ref), memset(r, 0, sizeof r);
    full_run(&cfg, c, out, "ref", false, true, true, 0, &ref);
    TEST_CHECK(c->rank != 0 || strstr(ref.metrics, "\"type\":\"eval\"") != NULL, "ref: no evaluation recorded");
    full_run(&cfg, c, out, "cpu", false, false, false, 0, &r[0]);
    full_run(&cfg, c, out, "guard", true, false, false, 0, &r[1]);
    full_run(&cfg, c, out, "guard-pe", true, false, false, 4, &r[2]);
    full_run(&cfg, c, out, "cpu-pe", false, false, false, 5, &r[3]);
    full_run(&cfg, c, out, "mixed", false, true, false, 3, &r[4]);
    const char *what[5] = {"cpu prefetched", "guard prefetched", "guard prefetched, pre-empted at 4 + resumed",
                           "cpu prefetched, pre-empted at 5 + resumed", "old order pre-empted at 3, resumed prefetched"};
    for (int i = 0; i < 5; i++) {
        char w[200];
        snprintf(w, sizeof w, "W=%d %s", c->world, what[i]);
        compare(&r[i], &ref, w);
        run_result_free(&r[i]);
    }
    run_result_free(&ref);
    train_dirs_remove(c, &d);
    int rc = apt_test_finish("test_prefetch");
    apt_comm_finalize(c);
    return rc;
}
