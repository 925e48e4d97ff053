// test_profile.c — the per-op profile (train.profile_steps, src/backend/profile/):
//
// 1. Work formulas, by hand: one profiled step on the wrapped cpu table with one convolution
//    (N 2, C 3, 8x8, K 4, 3x3, stride 2, pad 1 -> 4x4: 2 n K C R S P Q = 6912 FLOPs), one GEMM
//    (M 5, N 6, K 7: 2 M N K = 420), one relu over 100 floats (read + write: 800 bytes) and one 64-byte
//    D2H copy; calls outside a marked step, and after the profiled steps, are not counted; the wrapper
//    keeps the inner backend's name (apt_backend_is_host) and apt_backend_base reaches it.
// 2. Training runs (cpu, then the guard backend: APT_GUARD_BACKEND=1), smallcnn (3 convolutions), 6 steps
//    with train.profile_steps 3 (steps 2..4 profiled): profile.md exists and parses; conv2d_forward runs
//    3 times per step; the conv rows have a positive TFLOP/s; the ops cover >= 95 % of the step (the
//    rest is host work between the ops: the trainer's step bookkeeping, the loader hand-over of the next
//    batch, the comm_self exchange copies of E/dE; the share printed is what was measured); the % column
//    sums to the footer's coverage (W = 1; under mpirun -np 2 only rank 0 profiles, and the MPI
//    collectives, not backend ops, take the rest of its step); and the run equals the same run without profiling BITWISE (weights,
//    optimizer state, per-step losses of metrics.jsonl): profiling must not change numerics.
#include "backend/backend.h"
#include "backend/profile/profile_backend.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "harness.h"
#include "run_result.h"
#include "train_fixture.h"
#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_row(AptBackend *be, const char *op, double calls, double flops, double bytes) {
    AptProfileRow r;
    TEST_CHECK(apt_profile_row(be, op, &r), "unit: no row for %s", op);
    TEST_CHECK(r.calls == calls && r.flops == flops && r.bytes == bytes,
               "unit: %s: calls %g flops %g bytes %g, want %g %g %g", op, r.calls, r.flops, r.bytes, calls, flops,
               bytes);
    TEST_CHECK(r.seconds >= 0, "unit: %s: %g s", op, r.seconds);
}

static void unit_work(void) {
    AptBackend *cpu = apt_backend_create("cpu");
    AptBackend *be = apt_backend_profile_create(cpu, 1);
    TEST_CHECK(!strcmp(be->name, "cpu") && apt_backend_is_host(be) && apt_backend_base(be) == cpu,
               "unit: the wrapper is not transparent (name %s)", be->name);
    AptConvDesc d;
    apt_conv_desc_init(&d, 2, 3, 8, 8, 4, 3, 3, 2, 1);
    TEST_CHECK(d.P == 4 && d.Q == 4, "unit: conv output %dx%d", d.P, d.Q);
    be->conv2d_prepare(be, &d);
    float *x = be->alloc(be, 2 * 3 * 8 * 8 * 4), *w = be->alloc(be, 4 * 3 * 3 * 3 * 4);
    float *y = be->alloc(be, 2 * 4 * 4 * 4 * 4), *A = be->alloc(be, 5 * 7 * 4), *B = be->alloc(be, 7 * 6 * 4);
    float *C = be->alloc(be, 5 * 6 * 4), *r = be->alloc(be, 100 * 4);
    be->fill(be, 2 * 3 * 8 * 8, 0.5f, x), be->fill(be, 4 * 3 * 3 * 3, 0.25f, w);
    be->fill(be, 5 * 7, 1.0f, A), be->fill(be, 7 * 6, 2.0f, B), be->fill(be, 100, -1.0f, r);
    char host[64];
    for (int s = 0; s < 3; s++) { // step 1: warm-up (counts calls); step 2: profiled; step 3: after
        apt_profile_step_begin(be);
        be->conv2d_forward(be, &d, 2, apt_f32(x), apt_f32(w), NULL, apt_f32(y));
        be->gemm(be, false, false, 5, 6, 7, 1.0f, apt_f32(A), 7, apt_f32(B), 6, 0.0f, C, 6);
        be->relu_forward(be, 100, apt_f32(r), apt_f32(r));
        be->copy(be, host, y, sizeof host, APT_COPY_D2H);
        apt_profile_step_end(be);
        be->gemm(be, false, false, 5, 6, 7, 1.0f, apt_f32(A), 7, apt_f32(B), 6, 0.0f, C,
                 6); // outside a step: not counted
        TEST_CHECK(apt_profile_complete(be) == (s >= 1), "unit: complete after step %d", s + 1);
    }
    double step_s = 0;
    TEST_CHECK(apt_profile_collect(be, &step_s) == 1 && step_s > 0, "unit: collect: step %g s", step_s);
    check_row(be, "conv2d_forward", 1, 2.0 * 2 * 4 * 3 * 3 * 3 * 4 * 4, 0); // 6912
    check_row(be, "gemm", 1, 2.0 * 5 * 6 * 7, 0);                           // 420
    check_row(be, "relu_forward", 1, 0, 800);
    check_row(be, "copy", 1, 0, 64);
    AptProfileRow row;
    TEST_CHECK(!apt_profile_row(be, "add", &row), "unit: a row for an op never called");
    char *t = apt_profile_format(be, "unit");
    TEST_CHECK(strstr(t, "| conv2d_forward | 1 |") && strstr(t, "ops cover"), "unit: table:\n%s", t);
    printf("%s", t);
    free(t);
    be->conv2d_release(be, &d);
    float *bufs[7] = {x, w, y, A, B, C, r};
    for (int i = 0; i < 7; i++)
        be->free(be, bufs[i]);
    apt_backend_destroy(be); // destroys cpu too
}

typedef struct {
    int rows, conv_calls;
    double cover, pct_sum, conv_tflops, gemm_tflops;
} Parsed;

// Reads RUN/profile.md: the rows (op | calls/step | ms/step | % | TFLOP/s | GB/s) and the footer.
static int parse_profile(const char *path, Parsed *p) {
    memset(p, 0, sizeof *p);
    p->conv_calls = -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char op[128], calls[64], tf[64], gb[64];
        double ms, pct;
        const char *c = strstr(line, "ops cover ");
        if (c) sscanf(c, "ops cover %lf%%", &p->cover);
        if (sscanf(line, "| %127s | %63s | %lf | %lf | %63s | %63s |", op, calls, &ms, &pct, tf, gb) != 6) continue;
        p->rows++;
        p->pct_sum += pct;
        const double tflops = atof(tf); // "–" reads as 0
        if (!strcmp(op, "conv2d_forward")) p->conv_calls = atoi(calls), p->conv_tflops = tflops;
        if (!strcmp(op, "gemm") || !strcmp(op, "linear_forward"))
            p->gemm_tflops = fmax(p->gemm_tflops, tflops);
    }
    fclose(f);
    return 0;
}

// The shared small run (train_fixture.h) widened to the quickstart's width, with local BN and Adam.
static void config(AptConfig *cfg, const TrainDirs *d, const char *name, int profile) {
    train_config_base(cfg, d, name);
    cfg->model.width = 32; // the quickstart's width: the ops, not the host work between them, make the step
    cfg->model.embed_dim = 32;
    cfg->model.bn = APT_BN_LOCAL;
    cfg->data.batch_size = 64; // 8 classes x 8
    cfg->data.samples_per_class = 8;
    cfg->data.prefetch = 4; // the loader stays ahead: its hand-over inside the step is host time, no op
    cfg->optim.name = APT_OPT_ADAM;
    cfg->optim.lr = 1e-3;
    cfg->schedule.max_steps = 6;
    cfg->train.profile_steps = profile;
}

static void run(const AptConfig *cfg, AptComm *c, const char *out, RunResult *r) {
    AptTrainerOptions o = {.quiet = false, .no_eval = true}; // quiet = false: metrics.jsonl has the losses
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    TEST_CHECK(apt_trainer_run(t) == 0, "%s: run failed", cfg->run_name);
    apt_params_host_mirror(apt_trainer_params(t), &r->h);
    for (int i = 0; i < APT_LIST_MAX; i++)
        r->recall[i] = apt_trainer_last_recall(t, i);
    apt_trainer_destroy(t);
    r->metrics = c->rank == 0 ? run_read_metrics(out, cfg->run_name) : strdup("");
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_WARN, 0);
    apt_h5_init();
    if (c->rank == 0) unit_work();

    TrainDirs d;
    train_dirs_make(c, "profile", &d, 8, 16, 8, 28, 28, 1);
    const char *out = d.out;
    AptConfig cfg;
    RunResult ref = {0};
    config(&cfg, &d, "plain", 0);
    run(&cfg, c, out, &ref);
    const char *names[2] = {"profiled_cpu", "profiled_guard"};
    for (int g = 0; g < 2; g++) {
        if (g) setenv("APT_GUARD_BACKEND", "1", 1);
        RunResult r = {0};
        config(&cfg, &d, names[g], 3);
        run(&cfg, c, out, &r);
        unsetenv("APT_GUARD_BACKEND");
        int bad = run_compare(&r, &ref, names[g]);
        printf("%s: bitwise equal to the run without profiling (weights, optimizer state, losses): %s\n", names[g],
               bad ? "NO" : "yes");
        run_result_free(&r);
        if (c->rank != 0) continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s/profile.md", out, names[g]);
        Parsed p;
        TEST_CHECK(parse_profile(path, &p) == 0, "%s: no %s", names[g], path);
        TEST_CHECK(p.rows >= 10, "%s: %d rows in %s", names[g], p.rows, path);
        TEST_CHECK(p.conv_calls == 3, "%s: conv2d_forward %d calls per step, smallcnn has 3 convolutions", names[g],
                   p.conv_calls);
        TEST_CHECK(p.conv_tflops > 0, "%s: conv2d_forward TFLOP/s %g", names[g], p.conv_tflops);
        // W > 1: the communicator's collectives (MPI here, host time waiting for the other rank) are not
        // backend ops, so the ops cover less; the check is for one process.
        TEST_CHECK(c->world > 1 || p.cover >= 95.0, "%s: ops cover %.1f%% of the step (want >= 95%%)", names[g],
                   p.cover);
        TEST_CHECK(fabs(p.pct_sum - p.cover) < 0.05 * p.rows + 0.1, "%s: rows sum to %.1f%%, footer says %.1f%%",
                   names[g], p.pct_sum, p.cover);
        printf("%s: %d rows, ops cover %.1f%% of the step, conv2d_forward %.4f TFLOP/s\n", names[g], p.rows,
               p.cover, p.conv_tflops);
        if (g == 0) { // the table itself, for the log
            FILE *f = fopen(path, "r");
            char line[1024];
            while (f && fgets(line, sizeof line, f))
                fputs(line, stdout);
            if (f) fclose(f);
        }
    }
    char path[600];
    snprintf(path, sizeof path, "%s/plain/profile.md", out);
    TEST_CHECK(c->rank != 0 || !apt_path_exists(path), "profile.md written without train.profile_steps");
    run_result_free(&ref);
    train_dirs_remove(c, &d);
    int rc = apt_test_finish("test_profile");
    apt_comm_finalize(c);
    return rc;
}
