// test_bn_local.c — model.bn: local at W = 2 (README "Multi-node"; trainer.c share_bn_statistics): each
// rank's running statistics follow its own samples, so they drift apart during training; rank 0's are
// broadcast before every evaluation and checkpoint. After a run with evaluations (every 2 steps and at
// the end) every rank's BN buffers must equal rank 0's bitwise, and they must have moved from their
// initial values (mean 0, var 1), else the check would hold trivially. Weights are equal across ranks
// anyway (the gradient all-reduce): checked bitwise too, as a sanity check of the comparison.
#include "harness.h"
#include "train_fixture.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <string.h>
#include <unistd.h>

// Bitwise: does every rank hold rank 0's n floats at x?
static bool same_as_rank0(AptComm *c, const float *x, size_t n) {
    float *all = malloc((size_t)c->world * n * sizeof *all);
    c->allgather(c, x, all, n, APT_F32);
    bool same = true;
    for (int r = 1; r < c->world; r++) same = same && !memcmp(all, all + (size_t)r * n, n * sizeof *all);
    free(all);
    return same;
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_WARN, 0);
    apt_h5_init();
    if (c->world < 2) {
        printf("test_bn_local: needs 2 ranks (ctest runs it with np 2)\n");
        apt_comm_finalize(c);
        return 77;
    }
    TrainDirs d;
    train_dirs_make(c, "bn_local", &d, 8, 16, 8, 28, 28, 1);
    AptConfig cfg; // the shared small run (train_fixture.h) with local BN, evaluated every 2 steps
    train_config_base(&cfg, &d, "bn_local");
    cfg.model.bn = APT_BN_LOCAL;
    cfg.eval.every_steps = 2;
    AptTrainerOptions o = {.quiet = true};
    AptTrainer *t = apt_trainer_create(&cfg, c, &o);
    int rc = apt_trainer_run(t);
    TEST_CHECK(rc == 0, "the run finishes (status %d)", rc);
    AptParamStore *ps = apt_trainer_params(t);
    TEST_CHECK(ps->buffers_numel > 0, "the model has BN buffers");
    // Moved from the initial statistics (running_mean 0, running_var 1) on this rank.
    size_t moved = 0;
    for (int i = 0; i < ps->n; i++) {
        if (!ps->p[i].is_buffer) continue;
        const bool is_var = strstr(ps->p[i].name, "running_var") != NULL;
        for (size_t k = 0; k < ps->p[i].numel; k++)
            moved += ps->buffers[ps->p[i].offset + k] != (is_var ? 1.0f : 0.0f);
    }
    TEST_CHECK(moved > 0, "the running statistics moved from their initial values (%zu elements)", moved);
    const bool buffers_same = same_as_rank0(c, ps->buffers, ps->buffers_numel);
    const bool weights_same = same_as_rank0(c, ps->w, ps->numel);
    printf("rank %d: %zu BN buffer elements, %zu moved; equal to rank 0's: buffers %s, weights %s\n", c->rank,
           ps->buffers_numel, moved, buffers_same ? "yes" : "NO", weights_same ? "yes" : "NO");
    TEST_CHECK(buffers_same, "BN running statistics equal on every rank after evaluation (bitwise)");
    TEST_CHECK(weights_same, "weights equal on every rank (bitwise)");
    apt_trainer_destroy(t);
    train_dirs_remove(c, &d);
    int failed = apt_test_finish("test_bn_local");
    apt_comm_finalize(c);
    return failed;
}
