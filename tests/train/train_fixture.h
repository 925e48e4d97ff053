// train_fixture.h — what the training tests share (header-only, like synth_data.h): a per-run scratch
// directory with the synthetic train and test splits, the small run they train, and its per-step losses.
//
//   TrainDirs d;
//   train_dirs_make(c, "guard_train", &d, 8, 16, 8, 28, 28, 1);   // collective
//   AptConfig cfg;
//   train_config_base(&cfg, &d, "run_name");                        // then the test's own overrides
//   ...
//   train_dirs_remove(c, &d);                                       // collective
//
// The directory carries the test's tag, the world size and rank 0's pid: suites of other build trees run
// at the same time on one machine and must not share (or remove) each other's data.
#pragma once
#include "synth_data.h"

#include "config/config.h"
#include "core/fsutil.h"
#include "dist/comm.h"
#include "nn/params.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[256];  // the scratch directory of this run of the test
    char root[300]; // dir/data: the dataset (data.root)
    char out[300];  // dir/runs: the run directories (out_dir)
} TrainDirs;

// Collective over c: rank 0 (re)creates /tmp/apt_test_<tag>_np<W>_<pid> and writes K classes of n_train
// (train) and n_test (test) images of H x W x C (seeds 1 and 2); every rank returns after it is written.
static inline void train_dirs_make(AptComm *c, const char *tag, TrainDirs *d, int K, int n_train, int n_test, int H, int W,
                            int C) {
    int pid = (int)getpid();
    c->bcast(c, &pid, 1, APT_I32, 0);
    snprintf(d->dir, sizeof d->dir, "/tmp/apt_test_%s_np%d_%d", tag, c->world, pid);
    snprintf(d->root, sizeof d->root, "%s/data", d->dir);
    snprintf(d->out, sizeof d->out, "%s/runs", d->dir);
    if (c->rank == 0) {
        apt_rm_rf(d->dir);
        synth_write_split(d->root, "train", K, n_train, H, W, C, 1);
        synth_write_split(d->root, "test", K, n_test, H, W, C, 2);
    }
    c->barrier(c);
}

// Collective: every rank is done with the directory, then rank 0 removes it.
static inline void train_dirs_remove(AptComm *c, const TrainDirs *d) {
    c->barrier(c);
    if (c->rank == 0) apt_rm_rf(d->dir);
}

// The small run the training tests share: the small CNN (width 8, D 16), frozen BN, B 32 of 8 classes x 4
// (4 steps per epoch of the 8 x 16 train split, so 5 steps cross an epoch boundary), one loader thread,
// SGD momentum 0.9 at lr 0.05, constant schedule, 5 steps logged each, no evaluation or checkpoint
// before the end, resume never, device cpu, seed 7. Tests override what they are about.
static inline void train_config_base(AptConfig *cfg, const TrainDirs *d, const char *name) {
    apt_config_defaults(cfg);
    snprintf(cfg->data.root, sizeof cfg->data.root, "%s", d->root);
    snprintf(cfg->out_dir, sizeof cfg->out_dir, "%s", d->out);
    snprintf(cfg->run_name, sizeof cfg->run_name, "%s", name);
    snprintf(cfg->model.arch, sizeof cfg->model.arch, "smallcnn");
    snprintf(cfg->resume, sizeof cfg->resume, "never");
    cfg->seed = 7;
    cfg->device = APT_DEVICE_CPU;
    cfg->model.width = 8;
    cfg->model.embed_dim = 16;
    cfg->model.bn = APT_BN_FROZEN;
    cfg->data.batch_size = 32;
    cfg->data.samples_per_class = 4;
    cfg->data.threads = 1;
    cfg->data.prefetch = 2;
    cfg->optim.name = APT_OPT_SGD;
    cfg->optim.lr = 0.05;
    cfg->optim.momentum = 0.9;
    cfg->schedule.name = APT_SCHED_CONSTANT;
    cfg->schedule.max_steps = 5;
    cfg->eval.every_epochs = 0;
    cfg->checkpoint.every_epochs = 0;
    cfg->checkpoint.keep = 1;
    cfg->logging.every_steps = 1;
}

// Per-step training losses of run `name` under out (rank 0's metrics.jsonl); returns how many (<= cap).
static inline int train_read_losses(const char *out, const char *name, double *loss, int cap) {
    char p[1024], line[4096];
    snprintf(p, sizeof p, "%s/%s/metrics.jsonl", out, name);
    FILE *f = fopen(p, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f) && n < cap) {
        const char *l = strstr(line, "\"type\":\"train\"") ? strstr(line, "\"loss\":") : NULL;
        if (l) loss[n++] = strtod(l + 7, NULL);
    }
    if (f) fclose(f);
    return n;
}

// ||x - y||_2 / ||y||_2 (||x - y||_2 when y is zero), in float64.
static inline double train_rel(const float *x, const float *y, size_t n) {
    double d2 = 0, y2 = 0;
    for (size_t k = 0; k < n; k++) {
        double d = (double)x[k] - y[k];
        d2 += d * d, y2 += (double)y[k] * y[k];
    }
    return y2 > 0 ? sqrt(d2 / y2) : sqrt(d2);
}

// The trainable tensors of two runs (the parameter table p of np tensors; weights w*, momentum m*): with
// tol 0 weights and momentum bitwise, else each tensor's weights within train_rel tol (the first few
// outliers printed). Returns how many differ; *worst: the largest per-tensor difference (tol > 0).
static inline int train_params_differ(const AptParam *p, int np, const float *wa, const float *ma,
                                      const float *wb, const float *mb, double tol, const char *what,
                                      double *worst) {
    int bad = 0;
    *worst = 0;
    for (int i = 0; i < np; i++) {
        if (p[i].is_buffer) continue;
        const size_t o = p[i].offset, n = p[i].numel;
        if (tol == 0) {
            bad += memcmp(wa + o, wb + o, n * 4) != 0;
            bad += memcmp(ma + o, mb + o, n * 4) != 0;
            continue;
        }
        double r = train_rel(wa + o, wb + o, n);
        *worst = r > *worst ? r : *worst;
        if (!(r <= tol) && bad++ < 5) fprintf(stderr, "  %s: %s ||diff||/||w|| = %.3g\n", what, p[i].name, r);
    }
    return bad;
}
