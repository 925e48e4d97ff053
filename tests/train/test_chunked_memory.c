// test_chunked_memory.c — train.chunk bounds memory by the chunk, not by the batch: a training step at a
// global batch whose one-pass activation arena exceeds this test's activation-memory cap runs with
// train.chunk, with an arena planned for the chunk.
//
// ResNet-18 on 32x32x3 synthetic images, B = 256 (16 classes x m = 16), chunk 16, one step, frozen BN.
//   1. The arena is linear in the planned batch (every buffer is b_max x a per-sample size, plus
//      per-channel vectors), so two small models give its exact size for any b: one_pass = A(b).
//   2. Cap: 64 MiB of activations. one_pass(256) ~ 186 MiB exceeds it (the one-pass step would not fit);
//   3. the chunked trainer's model arena (the trainer's own, read back) is A(16) <= the cap, and the step
//      runs with a finite loss.
// Why a cap on the arena and not setrlimit(RLIMIT_AS): the process's address space (OpenMP/OpenBLAS/
// oneDNN threads, malloc arenas, MPI) is ~2 GiB of mostly unused reservations, so an address-space limit
// tight enough to exclude the one-pass arena needs B in the thousands, minutes of CPU per test run.
// Peak RSS against B at a fixed chunk is measured in tests/bench/RESULTS.md (bench_chunk).
#include "harness.h"
#include "synth_data.h"
#include "backend/backend.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "nn/model.h"
#include "train/trainer.h"
#include "train/trainer_impl.h" // the trainer's model, to read its arena size

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t arena_bytes(const AptConfig *cfg, int b_max) {
    AptBackend *be = apt_backend_create("cpu");
    AptModel *m = apt_model_create(&cfg->model, be, NULL, b_max, 3, 32, 32, cfg->seed);
    size_t bytes = apt_model_activation_bytes(m);
    apt_model_destroy(m);
    apt_backend_destroy(be);
    return bytes;
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_ERROR, 0);
    apt_h5_init();
    char dir[256], root[300], out[300];
    snprintf(dir, sizeof dir, "/tmp/apt_test_chunked_memory_%d", (int)getpid());
    snprintf(root, sizeof root, "%s/data", dir);
    snprintf(out, sizeof out, "%s/runs", dir);
    apt_rm_rf(dir);
    synth_write_split(root, "train", 16, 16, 32, 32, 3, 1);
    synth_write_split(root, "test", 8, 4, 32, 32, 3, 2);

    AptConfig cfg;
    apt_config_defaults(&cfg);
    snprintf(cfg.data.root, sizeof cfg.data.root, "%s", root);
    snprintf(cfg.out_dir, sizeof cfg.out_dir, "%s", out);
    snprintf(cfg.run_name, sizeof cfg.run_name, "chunked");
    snprintf(cfg.model.arch, sizeof cfg.model.arch, "resnet18");
    snprintf(cfg.resume, sizeof cfg.resume, "never");
    cfg.device = APT_DEVICE_CPU;
    cfg.model.embed_dim = 64;
    cfg.model.bn = APT_BN_FROZEN;
    cfg.data.batch_size = 256;
    cfg.data.samples_per_class = 16;
    cfg.data.threads = 1;
    cfg.data.prefetch = 1;
    cfg.optim.name = APT_OPT_SGD;
    cfg.optim.lr = 0.01;
    cfg.schedule.max_steps = 1;
    cfg.eval.every_epochs = 0;
    cfg.checkpoint.every_epochs = 0;
    cfg.train.chunk = 16;
    const int B = cfg.data.batch_size, chunk = cfg.train.chunk;

    const size_t a1 = arena_bytes(&cfg, chunk), a2 = arena_bytes(&cfg, 2 * chunk);
    const size_t per_sample = (a2 - a1) / (size_t)chunk, fixed = a1 - per_sample * (size_t)chunk;
    const size_t one_pass = fixed + per_sample * (size_t)B;
    printf("activation arena: %.2f MiB per sample; chunk %d: %.1f MiB; one pass at b = %d: %.1f MiB\n",
           per_sample / 1048576.0, chunk, a1 / 1048576.0, B, one_pass / 1048576.0);
    TEST_CHECK((a2 - a1) % (size_t)chunk == 0, "arena not linear in the batch (%zu, %zu)", a1, a2);

    const size_t cap = (size_t)64 << 20;
    TEST_CHECK(one_pass > cap, "one-pass arena %zu bytes fits the %zu-byte cap: raise B", one_pass, cap);
    AptTrainerOptions o = {.quiet = true, .no_eval = true};
    AptTrainer *t = apt_trainer_create(&cfg, c, &o);
    const size_t used = apt_model_activation_bytes(t->model);
    TEST_CHECK(used == a1, "chunked trainer's arena %zu bytes, want A(chunk) = %zu", used, a1);
    TEST_CHECK(used <= cap, "chunked trainer's arena %zu bytes exceeds the cap %zu", used, cap);
    int rc = apt_trainer_run(t);
    TEST_CHECK(rc == 0, "chunked run returned %d", rc);
    TEST_CHECK(apt_trainer_steps_done(t) == 1, "steps done %ld", apt_trainer_steps_done(t));
    printf("cap %.0f MiB: one pass would need %.1f MiB; the chunked step (B %d, chunk %d) ran with %.1f MiB\n",
           cap / 1048576.0, one_pass / 1048576.0, B, chunk, used / 1048576.0);
    apt_trainer_destroy(t);
    apt_rm_rf(dir);
    int r = apt_test_finish("test_chunked_memory");
    apt_comm_finalize(c);
    return r;
}
