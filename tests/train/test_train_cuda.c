// test_train_cuda.c — training on the GPU against the CPU: the same 5 steps of a small CNN (BN frozen,
// SGD with momentum; the batch crosses an epoch boundary; final evaluation) with device cuda and device
// cpu, one process. Label gpu; skips (exit 77) where no CUDA device is visible.
//   test_train_cuda [--arch NAME --size S --channels C]   (tests/gpu/run.sh --train: resnet50 at 64x64x3)
// APT_TEST_CPU_TWIN=1 runs the "cuda" half on the cpu backend too (ctest test_train_cuda_cpu_twin): the
// harness itself (losses read, registry, comparisons) is then exercised in CI, with equal results required.
//
// Tolerances, and why: the two backends run different kernels (cuDNN/cuBLAS vs oneDNN/OpenBLAS, the
// fused CUDA loss vs the CPU loss driver), all in fp32 with fp64 reductions, so each op differs by a
// few float32 ulps (test_backend_ops_cuda: ~1e-6 relative). Over 4 SGD steps these differences pass
// through the weights into the next steps' losses without amplification (no Adam sign effects):
// per-step loss within 1e-5 relative, per-tensor ||w_cuda - w_cpu|| / ||w_cpu|| within 1e-4, and the
// final Recall@1 equal (a 64-image test split: one changed neighbour would move it by 1/64).
// A deeper model (any arch but smallcnn: ResNet-50 has 53 conv+BN layers whose ulp differences compound
// through the forward and again through the backward) gets 10x the loss and weight bounds and Recall@1
// within 1/64.
#include "harness.h"
#include "synth_data.h"
#include "backend/backend.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "data/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <string.h>
#include <unistd.h>

static void config(AptConfig *cfg, const char *root, const char *out, const char *name, AptDevice dev,
                   const char *arch) {
    apt_config_defaults(cfg);
    snprintf(cfg->data.root, sizeof cfg->data.root, "%s", root);
    snprintf(cfg->out_dir, sizeof cfg->out_dir, "%s", out);
    snprintf(cfg->run_name, sizeof cfg->run_name, "%s", name);
    snprintf(cfg->model.arch, sizeof cfg->model.arch, "%s", arch);
    snprintf(cfg->resume, sizeof cfg->resume, "never");
    snprintf(cfg->dist.backend, sizeof cfg->dist.backend, "auto");
    cfg->seed = 11;
    cfg->device = dev;
    cfg->model.width = 8;
    cfg->model.embed_dim = 16;
    cfg->model.bn = APT_BN_FROZEN;
    cfg->data.batch_size = 32;
    cfg->data.samples_per_class = 4;
    cfg->data.threads = 1;
    cfg->optim.name = APT_OPT_SGD;
    cfg->optim.lr = 0.05;
    cfg->optim.momentum = 0.9;
    cfg->schedule.name = APT_SCHED_CONSTANT;
    cfg->schedule.max_steps = 5;
    cfg->eval.every_epochs = 0;
    cfg->checkpoint.every_epochs = 0;
    cfg->logging.every_steps = 1;
}

// Per-step losses from metrics.jsonl.
static int read_losses(const char *out, const char *name, double *loss, int cap) {
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

int main(int argc, char **argv) {
    const char *arch = "smallcnn";
    int size = 28, channels = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--arch")) arch = argv[i + 1];
        else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--channels")) channels = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: test_train_cuda [--arch NAME] [--size S] [--channels C]\n");
            return 2;
        }
    }
    const bool deep = strcmp(arch, "smallcnn") != 0;
    const double tol_loss = deep ? 1e-4 : 1e-5, tol_w = deep ? 1e-3 : 1e-4, tol_r = deep ? 1.0 / 64 : 0;
    const char *why = NULL;
    const bool cpu_twin = getenv("APT_TEST_CPU_TWIN") != NULL;
    AptBackend *probe = cpu_twin ? NULL : apt_backend_cuda_create_on(0, &why);
    if (!probe && !cpu_twin) {
        printf("test_train_cuda: skipped (%s)\n", why ? why : "no CUDA backend");
        return 77;
    }
    if (probe) apt_backend_destroy(probe);
    AptComm *c = apt_comm_init_auto(&argc, &argv); // no MPI_Init on a bare GPU host without a launcher
    apt_log_init(c->rank, APT_LOG_ERROR, 0);
    apt_h5_init();
    char dir[256], root[300], out[300];
    snprintf(dir, sizeof dir, "/tmp/apt_test_train_cuda_%d", (int)getpid());
    snprintf(root, sizeof root, "%s/data", dir);
    snprintf(out, sizeof out, "%s/runs", dir);
    apt_rm_rf(dir);
    synth_write_split(root, "train", 8, 16, size, size, channels, 1);
    synth_write_split(root, "test", 8, 8, size, size, channels, 2);

    AptParamStore h[2];
    double recall[2], loss[2][8];
    int nl[2];
    const char *names[2] = {"cpu", "cuda"};
    for (int k = 0; k < 2; k++) {
        AptConfig cfg;
        config(&cfg, root, out, names[k], k && !cpu_twin ? APT_DEVICE_CUDA : APT_DEVICE_CPU, arch);
        AptTrainerOptions o = {.quiet = true};
        AptTrainer *t = apt_trainer_create(&cfg, c, &o);
        TEST_CHECK(apt_trainer_run(t) == 0, "%s run failed", names[k]);
        const char *want = cpu_twin ? "cpu" : names[k];
        TEST_CHECK(!strcmp(apt_trainer_params(t)->be->name, want), "%s run on backend %s", names[k],
                   apt_trainer_params(t)->be->name);
        apt_params_host_mirror(apt_trainer_params(t), &h[k]);
        recall[k] = apt_trainer_last_recall(t, 0);
        apt_trainer_destroy(t);
        nl[k] = read_losses(out, names[k], loss[k], 8);
    }
    TEST_CHECK(nl[0] == 5 && nl[1] == 5, "losses logged: cpu %d, cuda %d (want 5)", nl[0], nl[1]);
    for (int i = 0; i < nl[0] && i < nl[1]; i++) {
        double r = fabs(loss[1][i] - loss[0][i]) / fabs(loss[0][i]);
        printf("step %d: loss cpu %.9g cuda %.9g (rel %.2g)\n", i + 1, loss[0][i], loss[1][i], r);
        TEST_CHECK(r <= tol_loss, "step %d: loss differs by %.3g relative (tol %g)", i + 1, r, tol_loss);
    }
    double worst = 0;
    for (int i = 0; i < h[0].n; i++) {
        const AptParam *p = &h[0].p[i];
        const float *x = (p->is_buffer ? h[1].buffers : h[1].w) + p->offset;
        const float *y = (p->is_buffer ? h[0].buffers : h[0].w) + p->offset;
        double d2 = 0, y2 = 0;
        for (size_t j = 0; j < p->numel; j++) d2 += pow((double)x[j] - y[j], 2), y2 += (double)y[j] * y[j];
        double r = y2 > 0 ? sqrt(d2 / y2) : sqrt(d2);
        if (r > worst) worst = r;
        TEST_CHECK(r <= tol_w, "%s: ||w_cuda - w_cpu|| / ||w_cpu|| = %.3g (tol %g)", p->name, r, tol_w);
    }
    printf("%s %dx%dx%d, weights after 5 steps: worst per-tensor relative difference %.3g (tol %g)\n", arch,
           size, size, channels, worst, tol_w);
    printf("Recall@1: cpu %g, cuda %g\n", recall[0], recall[1]);
    TEST_CHECK(fabs(recall[0] - recall[1]) <= tol_r, "Recall@1: cpu %g, cuda %g (tol %g)", recall[0], recall[1],
               tol_r);
    apt_params_host_free(&h[0]), apt_params_host_free(&h[1]);
    apt_rm_rf(dir);
    int rc = apt_test_finish("test_train_cuda");
    apt_comm_finalize(c);
    return rc;
}
