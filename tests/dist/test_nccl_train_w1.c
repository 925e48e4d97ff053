// test_nccl_train_w1.c — the NCCL training path on ONE GPU (label gpu; exit 77 without a device).
// dist.backend nccl at W = 1 builds what W > 1 builds (src/train/trainer.c): the NCCL communicator pair
// (E/dE + BN sums on one, gradient buckets on the other, each with its stream and events) and the
// buckets. At W = 1 a sum changes nothing, so the test-only hook APT_TEST_BUCKET_PREMUL=2 makes every
// bucket all-reduce a pre-multiplied sum (ncclRedOpCreatePreMulSum x 2, after a ~1 ms spin kernel on the
// bucket stream); the staged path (dist.backend self: host scratch) applies the same x 2. Multiplying by
// 2 is exact, so both runs must agree BITWISE; a compute stream that did not wait for a bucket's event
// would read the gradients before the spinning all-reduce doubled them, and differ.
//   nccl:   cuda, dist.backend nccl, bn sync (float64 BN sums through NCCL), SGD + momentum; 3 steps,
//           pre-empted (checkpoint, teardown), resume=auto to 5 steps (set-up again), final evaluation
//   staged: the same with dist.backend self
//   plain:  nccl without the hook: its weights must differ from nccl's (the hook acts)
// Compared: weights, BN buffers, momentum, metrics.jsonl, Recall@K (run_result.h); the nccl run's
// collective log (APT_COMM_RECORD) must show bucket all-reduces and float64 BN sums on nccl.
//
// APT_TEST_CPU_TWIN=1 (ctest test_nccl_train_w1_cpu_twin, no GPU needed): the staged half of the hook
// and the W = 1 buckets on the CPU. The guard backend (device memory host code cannot read, staged
// through host scratch) with the hook at lr 0.05 against the cpu backend without it at lr 0.1, bn frozen,
// SGD + momentum, no weight decay or clipping: lr * (2 g) == (2 lr) * g exactly, so the weights must be
// bitwise equal.
#include "harness.h"
#include "train/run_result.h"
#include "train/train_fixture.h"
#include "backend/backend.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// The shared small run (train_fixture.h) with sync BN on device dev and dist.backend `backend`, several
// gradient buckets, no weight decay or clipping.
static void config(AptConfig *cfg, const TrainDirs *d, const char *name, AptDevice dev, const char *backend) {
    train_config_base(cfg, d, name);
    snprintf(cfg->dist.backend, sizeof cfg->dist.backend, "%s", backend);
    cfg->seed = 5;
    cfg->device = dev;
    cfg->model.bn = APT_BN_SYNC;
    cfg->dist.bucket_mb = 0.01; // several buckets for this small model
    cfg->optim.weight_decay = 0;
    cfg->optim.clip_grad_norm = 0;
}

static int train(const AptConfig *cfg, AptComm *c, long preempt_at, RunResult *r) {
    AptTrainerOptions o = {.quiet = false, .preempt_at_step = preempt_at};
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    int rc = apt_trainer_run(t);
    if (r) {
        apt_params_host_mirror(apt_trainer_params(t), &r->h);
        for (int i = 0; i < APT_LIST_MAX; i++) r->recall[i] = apt_trainer_last_recall(t, i);
    }
    apt_trainer_destroy(t);
    return rc;
}

// 3 steps, pre-empted; resumed to 5 with the hook factor `premul` ("1": off).
static void full_run(AptConfig cfg, AptComm *c, const char *out, const char *premul, RunResult *r) {
    setenv("APT_TEST_BUCKET_PREMUL", premul, 1);
    int rc = train(&cfg, c, 3, NULL);
    TEST_CHECK(rc == APT_EXIT_REQUEUE, "%s: pre-empted run returned %d", cfg.run_name, rc);
    snprintf(cfg.resume, sizeof cfg.resume, "auto");
    rc = train(&cfg, c, 0, r);
    TEST_CHECK(rc == 0, "%s: resumed run returned %d", cfg.run_name, rc);
    unsetenv("APT_TEST_BUCKET_PREMUL");
    r->metrics = run_read_metrics(out, cfg.run_name);
}

static bool weights_equal(const RunResult *a, const RunResult *b) {
    return a->h.numel == b->h.numel && !memcmp(a->h.w, b->h.w, a->h.numel * sizeof(float));
}

static int cpu_twin(AptComm *c, const TrainDirs *d) {
    const char *out = d->out;
    AptConfig cfg;
    RunResult g = {0}, p = {0};
    config(&cfg, d, "guard_premul2", APT_DEVICE_CPU, "self");
    cfg.model.bn = APT_BN_FROZEN;
    setenv("APT_GUARD_BACKEND", "1", 1);
    full_run(cfg, c, out, "2", &g);
    unsetenv("APT_GUARD_BACKEND");
    config(&cfg, d, "cpu_lr2", APT_DEVICE_CPU, "self");
    cfg.model.bn = APT_BN_FROZEN;
    cfg.optim.lr = 0.1;
    full_run(cfg, c, out, "1", &p);
    const bool eq = weights_equal(&g, &p);
    TEST_CHECK(eq, "guard + staged x2 buckets at lr 0.05 vs cpu at lr 0.1: weights differ bitwise");
    printf("W=1 guard, staged buckets x 2, lr 0.05 == cpu, lr 0.1 (weights, bitwise): %s\n", eq ? "yes" : "NO");
    run_result_free(&g), run_result_free(&p);
    return 0;
}

int main(int argc, char **argv) {
    const bool twin = getenv("APT_TEST_CPU_TWIN") != NULL;
    const char *why = NULL;
    AptBackend *probe = twin ? NULL : apt_backend_cuda_create_on(0, &why);
    if (!probe && !twin) {
        printf("test_nccl_train_w1: skipped (%s)\n", why ? why : "no CUDA backend");
        return 77;
    }
    if (probe) apt_backend_destroy(probe);
    AptComm *c = apt_comm_init_auto(&argc, &argv); // no MPI_Init on a bare GPU host without a launcher
    if (c->world != 1) {
        printf("test_nccl_train_w1: one process only (skipped at W = %d)\n", c->world);
        apt_comm_finalize(c);
        return 77;
    }
    apt_log_init(c->rank, APT_LOG_ERROR, 0);
    apt_h5_init();
    TrainDirs dirs;
    train_dirs_make(c, "nccl_train_w1", &dirs, 8, 16, 8, 28, 28, 1);
    const TrainDirs *d = &dirs;
    const char *out = d->out;
    char logs[320];
    snprintf(logs, sizeof logs, "%.256s/logs", d->dir);
    apt_mkdir_p(logs);

    if (twin) {
        cpu_twin(c, d);
    } else {
        AptConfig cfg;
        RunResult n = {0}, s = {0}, p = {0};
        config(&cfg, d, "nccl", APT_DEVICE_CUDA, "nccl");
        setenv("APT_COMM_RECORD", logs, 1);
        full_run(cfg, c, out, "2", &n);
        unsetenv("APT_COMM_RECORD");
        config(&cfg, d, "staged", APT_DEVICE_CUDA, "self");
        full_run(cfg, c, out, "2", &s);
        config(&cfg, d, "plain", APT_DEVICE_CUDA, "nccl");
        full_run(cfg, c, out, "1", &p);
        int bad = run_compare(&n, &s, "W=1 nccl (PreMulSum x 2) vs staged (x 2)");
        printf("W=1 nccl buckets (PreMulSum x 2, spin) vs staged (x 2): bitwise identical (weights, BN buffers, "
               "momentum, losses, metrics): %s\n", bad ? "NO" : "yes");
        TEST_CHECK(!weights_equal(&n, &p), "nccl with and without the x 2 hook trained the same weights: the "
                   "bucket all-reduce did not act");
        char lp[400];
        snprintf(lp, sizeof lp, "%s/comm.0.log", logs);
        FILE *f = fopen(lp, "rb");
        char line[256];
        int buckets = 0, bn = 0;
        while (f && fgets(line, sizeof line, f)) {
            buckets += !!strstr(line, "grad nccl iallreduce");
            bn += strstr(line, "device nccl allreduce") && strstr(line, "dtype=float64");
        }
        if (f) fclose(f);
        TEST_CHECK(buckets > 0 && bn > 0, "nccl run's collective log: %d bucket all-reduces, %d float64 BN sums on "
                   "nccl (want both > 0)", buckets, bn);
        printf("nccl run: %d bucket all-reduces and %d float64 BN sums through NCCL\n", buckets, bn);
        run_result_free(&n), run_result_free(&s), run_result_free(&p);
    }
    train_dirs_remove(c, d);
    int rc = apt_test_finish("test_nccl_train_w1");
    apt_comm_finalize(c);
    return rc;
}
