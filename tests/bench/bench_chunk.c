// bench_chunk.c — memory and time of the two-pass step (train.chunk, the chunk loop of src/train/step.c) against
// the one-pass step: the real trainer (loader, model, Smooth-AP, SGD) on synthetic images, one process.
//
//   bench_chunk [--arch resnet18] [--B 256] [--chunk 16] [--size 32] [--steps 4] [--m 16] [--precision bf16]
//
// Prints one line: arch, B, chunk, the model's activation arena (MiB; and of it the stored activations,
// the tensors kept from forward to backward, the rest being gradient buffers and scratch), the peak RSS of the process
// (getrusage ru_maxrss: set-up, data, model, optimizer, loader included), and the median step time over
// the steps after the first (which builds the oneDNN primitives). Run one configuration per process (the
// peak RSS is the process's). Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS.
#include "../train/synth_data.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"
#include "train/trainer_impl.h" // the trainer's model (arena size)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_ERROR, 0);
    apt_h5_init();
    char arch[64] = "resnet18";
    int B = 256, chunk = 16, size = 32, steps = 4, m = 16;
    bool bf16 = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--arch")) snprintf(arch, sizeof arch, "%s", v);
        else if (!strcmp(k, "--B")) B = atoi(v);
        else if (!strcmp(k, "--chunk")) chunk = atoi(v);
        else if (!strcmp(k, "--size")) size = atoi(v);
        else if (!strcmp(k, "--steps")) steps = atoi(v);
        else if (!strcmp(k, "--m")) m = atoi(v);
        else if (!strcmp(k, "--precision")) bf16 = !strcmp(v, "bf16");
        else {
            fprintf(stderr, "bench_chunk: unknown option %s\n", k);
            return 2;
        }
    }
    char dir[256], root[300], out[300];
    snprintf(dir, sizeof dir, "/tmp/apt_bench_chunk_%d", (int)getpid());
    snprintf(root, sizeof root, "%s/data", dir);
    snprintf(out, sizeof out, "%s/runs", dir);
    apt_rm_rf(dir);
    synth_write_split(root, "train", B / m, m, size, size, 3, 1);
    synth_write_split(root, "test", 2, 2, size, size, 3, 2);

    AptConfig cfg;
    apt_config_defaults(&cfg);
    snprintf(cfg.data.root, sizeof cfg.data.root, "%s", root);
    snprintf(cfg.out_dir, sizeof cfg.out_dir, "%s", out);
    snprintf(cfg.run_name, sizeof cfg.run_name, "bench");
    snprintf(cfg.model.arch, sizeof cfg.model.arch, "%s", arch);
    snprintf(cfg.resume, sizeof cfg.resume, "never");
    cfg.device = APT_DEVICE_CPU;
    cfg.model.embed_dim = 128;
    cfg.model.bn = APT_BN_FROZEN;
    cfg.data.batch_size = B;
    cfg.data.samples_per_class = m;
    cfg.data.threads = 1;
    cfg.data.prefetch = 1;
    cfg.optim.name = APT_OPT_SGD;
    cfg.optim.lr = 1e-4;
    cfg.schedule.max_steps = steps;
    cfg.eval.every_epochs = 0;
    cfg.checkpoint.every_epochs = 0;
    cfg.logging.every_steps = 1;
    cfg.train.chunk = chunk;
    cfg.precision = bf16 ? APT_PREC_BF16 : APT_PREC_FP32;

    AptTrainerOptions o = {.quiet = false, .no_eval = true};
    AptTrainer *t = apt_trainer_create(&cfg, c, &o);
    const size_t arena = apt_model_activation_bytes(t->model), saved = apt_model_saved_activation_bytes(t->model);
    apt_trainer_run(t);
    apt_trainer_destroy(t);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    // Step times from metrics.jsonl (cumulative time_s per step).
    char p[1024], line[4096];
    snprintf(p, sizeof p, "%s/bench/metrics.jsonl", out);
    FILE *f = fopen(p, "r");
    double prev = -1, dt[1024];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *s = strstr(line, "\"time_s\":");
        if (!s) continue;
        double now = atof(s + 9);
        if (prev >= 0 && n < 1024) dt[n++] = now - prev; // skips the first step (primitive set-up)
        prev = now;
    }
    if (f) fclose(f);
    qsort(dt, (size_t)n, sizeof *dt, cmp_d);
    printf("arch %s  %s  size %d  B %5d  chunk %4d  arena %8.1f MiB (stored activations %8.1f MiB)  peak RSS %8.1f MiB  "
           "step %7.3f s (median of %d)\n",
           arch, bf16 ? "bf16" : "fp32", size, B, chunk, arena / 1048576.0, saved / 1048576.0, ru.ru_maxrss / 1024.0,
           n ? dt[n / 2] : -1.0, n);
    apt_rm_rf(dir);
    apt_comm_finalize(c);
    return 0;
}
