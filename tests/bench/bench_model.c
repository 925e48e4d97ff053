// bench_model.c — one training step of a model through the AptModel façade, batch 64 by default, against
// tests/bench/bench_model_torch.py (the same computation in PyTorch with the same threads):
//   default:  forward + backward with a random dE (no loss, no optimizer);
//   --step 1: the issue-4 step: forward, Smooth-AP (tau 0.01, 16 classes x 4), backward, Adam (lr 1e-5,
//             coupled weight decay 4e-4, head lr x 2) — one process, so no all-gather/all-reduce.
// Not a ctest; figures go to tests/bench/RESULTS.md.
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 ./bench_model --arch resnet18 --size 112 [--bn frozen]
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 ./bench_model --arch smallcnn --size 28 --channels 1 --bn local
// Options: --batch B, --reps R (timed steps after one warm-up), --dim D, --conv im2col|dnnl|dnnl-blk,
// --step 1 (loss + optimizer), --precision fp32|bf16 (the model's activation dtype, README "Precision"; the
// line then also gives the stored activations and the whole activation arena per image).
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 ./bench_model --arch vit_b16 --size 224 --batch 4 --precision bf16
#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "core/rng.h"
#include "core/timer.h"
#include "loss/loss.h"
#include "nn/model.h"
#include "optim/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    AptModelConfig mc;
    memset(&mc, 0, sizeof mc);
    strcpy(mc.arch, "resnet18");
    mc.embed_dim = 128;
    mc.bn = APT_BN_FROZEN;
    int B = 64, size = 112, C = 3, reps = 5, full_step = 0, bf16 = 0;
    const char *conv = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--arch"))
            snprintf(mc.arch, sizeof mc.arch, "%s", v);
        else if (!strcmp(k, "--size"))
            size = atoi(v);
        else if (!strcmp(k, "--channels"))
            C = atoi(v);
        else if (!strcmp(k, "--batch"))
            B = atoi(v);
        else if (!strcmp(k, "--reps"))
            reps = atoi(v);
        else if (!strcmp(k, "--dim"))
            mc.embed_dim = atoi(v);
        else if (!strcmp(k, "--conv"))
            conv = v;
        else if (!strcmp(k, "--step"))
            full_step = atoi(v);
        else if (!strcmp(k, "--precision"))
            bf16 = !strcmp(v, "bf16");
        else if (!strcmp(k, "--bn")) {
            mc.bn = !strcmp(v, "local")           ? APT_BN_LOCAL
                    : !strcmp(v, "sync")          ? APT_BN_SYNC
                    : !strcmp(v, "frozen_affine") ? APT_BN_FROZEN_AFFINE
                                                  : APT_BN_FROZEN;
        } else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    AptBackend *be = apt_backend_create("cpu");
    AptCpuImpl *impl = be->impl;
    if (conv)
        impl->conv_route = !strcmp(conv, "im2col")     ? APT_CONV_IM2COL
                           : !strcmp(conv, "dnnl-blk") ? APT_CONV_DNNL_BLOCKED
                                                       : APT_CONV_DNNL;
    AptComm *comm = apt_comm_create_self();
    AptModel *m = apt_model_create_ex(&mc, be, comm, B, C, size, size, 1, bf16);
    int D = apt_model_embed_dim(m);
    size_t nx = (size_t)B * C * size * size;
    float *x = malloc(nx * sizeof *x), *E = malloc((size_t)B * D * sizeof *E),
          *dE = malloc((size_t)B * D * sizeof *dE);
    AptRngStream r = apt_rng_stream(2, APT_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)apt_rng_next_normal(&r);
    for (int i = 0; i < B * D; i++)
        dE[i] = (float)apt_rng_next_normal(&r) * 0.01f;
    double *tf = malloc((size_t)reps * sizeof *tf), *tb = malloc((size_t)reps * sizeof *tb),
           *ts = malloc((size_t)reps * sizeof *ts);
    AptParamStore *ps = apt_model_params(m);
    const int mper = 4;
    int *labels = malloc((size_t)B * sizeof *labels);
    for (int i = 0; i < B; i++)
        labels[i] = i / mper;
    AptLossParams lp;
    apt_loss_params_default(&lp, "smoothap");
    AptLossWorkspace *lws = apt_loss_workspace_create(B, B, D, APT_F32);
    AptOptimConfig oc;
    memset(&oc, 0, sizeof oc);
    oc.name = APT_OPT_ADAM;
    oc.lr = 1e-5, oc.weight_decay = 4e-4, oc.beta1 = 0.9, oc.beta2 = 0.999, oc.eps = 1e-8, oc.fc_lr_mul = 2;
    AptOptim opt;
    apt_optim_init(&opt, &oc, ps);
    double loss = 0;
    for (int it = -1; it < reps; it++) {
        apt_params_zero_grad(ps);
        double t0 = apt_time_now();
        apt_model_forward(m, x, B, E, true);
        if (full_step) {
            AptLossIn in = {.E = E, .labels = labels, .B = B, .D = D, .q_begin = 0, .q_end = B};
            AptLossOut out = {.dE = dE};
            apt_loss_compute(lws, &lp, &in, &out);
            loss = out.loss_part;
        }
        double t1 = apt_time_now();
        apt_model_backward(m, dE);
        if (full_step) apt_optim_step(&opt, oc.lr);
        double t2 = apt_time_now();
        if (it >= 0) tf[it] = t1 - t0, tb[it] = t2 - t1, ts[it] = t2 - t0;
    }
    qsort(tf, (size_t)reps, sizeof *tf, cmp_d);
    qsort(tb, (size_t)reps, sizeof *tb, cmp_d);
    qsort(ts, (size_t)reps, sizeof *ts, cmp_d);
    const char *route[] = {"im2col", "dnnl", "dnnl-blk"};
    printf("aptrain %s %s %dx%dx%d batch %d bn %d conv %s%s: stored activations %.1f MiB/image, arena %.1f "
           "MiB/image; median fwd%s %.1f ms, bwd%s %.1f ms, step %.1f ms "
           "(min %.1f) -> %.1f img/s; %zu params%s",
           mc.arch, bf16 ? "bf16" : "fp32", C, size, size, B, (int)mc.bn, route[impl->conv_route],
           full_step ? " full step" : "", apt_model_saved_activation_bytes(m) / 1048576.0 / B,
           apt_model_activation_bytes(m) / 1048576.0 / B,
           full_step ? "+loss" : "", 1e3 * tf[reps / 2], full_step ? "+adam" : "", 1e3 * tb[reps / 2],
           1e3 * ts[reps / 2], 1e3 * ts[0], B / ts[reps / 2], ps->numel, full_step ? "" : "\n");
    if (full_step) printf("; last loss %.5f\n", loss);
    apt_loss_workspace_free(lws);
    free(labels);
    apt_model_destroy(m);
    apt_backend_destroy(be);
    apt_comm_finalize(comm);
    free(x), free(E), free(dE), free(tf), free(tb), free(ts);
    return 0;
}
