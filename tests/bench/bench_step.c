// bench_step.c — one training step on one process: forward, Smooth-AP (local = global batch), backward,
// Adam (coupled weight decay 4e-4) — the DESIGN §1 chain without communication — on random inputs.
//
//   bench_step [--arch smallcnn|resnet18|...] [--B 64] [--size 28] [--channels 1] [--D 128] [--m 4]
//              [--steps 10] [--bn frozen|sync|local] [--profile N]
// Prints the median and best step time over --steps steps after 2 warm-up steps, and images/s.
// --profile N: then 1 + N more steps through the per-op profiler (src/backend/profile/; the first is
// warm-up) and its table, lines prefixed "profile: ". The loss here is the host function
// apt_loss_compute (not the table's loss op), so its time shows as the gap between ops; the trainer's
// own profile (train.profile_steps) runs the loss as an op.
// Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS (compare with bench_step_torch.py at the same count).
#include "backend/backend.h"
#include "backend/profile/profile_backend.h"
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
    AptModelConfig mc = {.embed_dim = 128, .bn = APT_BN_FROZEN, .head_init_std = 0.01, .width = 32, .hidden = 512};
    snprintf(mc.arch, sizeof mc.arch, "smallcnn");
    int B = 64, S = 28, C = 1, m = 4, steps = 10, profile = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--arch")) snprintf(mc.arch, sizeof mc.arch, "%s", v);
        else if (!strcmp(k, "--B")) B = atoi(v);
        else if (!strcmp(k, "--size")) S = atoi(v);
        else if (!strcmp(k, "--channels")) C = atoi(v);
        else if (!strcmp(k, "--D")) mc.embed_dim = atoi(v);
        else if (!strcmp(k, "--m")) m = atoi(v);
        else if (!strcmp(k, "--steps")) steps = atoi(v);
        else if (!strcmp(k, "--profile")) profile = atoi(v);
        else if (!strcmp(k, "--bn")) mc.bn = !strcmp(v, "sync") ? APT_BN_SYNC : !strcmp(v, "local") ? APT_BN_LOCAL : APT_BN_FROZEN;
        else {
            fprintf(stderr, "bench_step: unknown option %s\n", k);
            return 2;
        }
    }
    AptBackend *be = apt_backend_create("cpu");
    if (profile > 0) be = apt_backend_profile_create(be, profile); // pass-through outside marked steps
    AptComm *comm = apt_comm_create_self();
    AptModel *model = apt_model_create(&mc, be, comm, B, C, S, S, 1);
    AptParamStore *ps = apt_model_params(model);
    int D = apt_model_embed_dim(model);
    AptLossParams lp;
    apt_loss_params_default(&lp, "smoothap");
    AptLossWorkspace *ws = apt_loss_workspace_create(B, B, D, APT_F32);
    AptOptimConfig oc = {.name = APT_OPT_ADAM, .lr = 1e-4, .weight_decay = 4e-4, .beta1 = 0.9, .beta2 = 0.999,
                         .eps = 1e-8, .fc_lr_mul = 2};
    AptOptim opt;
    apt_optim_init(&opt, &oc, ps);
    size_t nx = (size_t)B * C * S * S;
    float *x = malloc(nx * sizeof(float)), *E = malloc((size_t)B * D * 4), *dE = malloc((size_t)B * D * 4);
    int *labels = malloc((size_t)B * sizeof(int));
    AptRngStream r = apt_rng_stream(1, APT_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < nx; i++) x[i] = (float)apt_rng_next_normal(&r);
    for (int i = 0; i < B; i++) labels[i] = i / m;
    double *t = malloc((size_t)(steps + 2) * sizeof(double)), loss = 0;
    for (int s = 0; s < steps + 2 + (profile > 0 ? 1 + profile : 0); s++) {
        const bool prof = s >= steps + 2;
        if (prof) apt_profile_step_begin(be);
        double t0 = apt_time_now();
        apt_model_forward(model, x, B, E, true);
        AptLossIn in = {.E = E, .labels = labels, .B = B, .D = D, .q_begin = 0, .q_end = B};
        AptLossOut out = {.dE = dE};
        apt_loss_compute(ws, &lp, &in, &out);
        apt_params_zero_grad(ps);
        apt_model_backward(model, dE);
        apt_optim_step(&opt, 1e-4);
        if (prof) {
            apt_profile_step_end(be);
            continue;
        }
        t[s] = apt_time_now() - t0;
        loss = out.loss_part;
    }
    qsort(t + 2, (size_t)steps, sizeof(double), cmp_d);
    double med = t[2 + steps / 2];
    printf("| aptrain | %s | %d | %dx%dx%d | %s | %.1f | %.1f | %.0f |   (loss %.4f)\n", mc.arch, B, C, S, S,
           getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "?", med * 1e3, t[2] * 1e3, B / med, loss);
    if (profile > 0) {
        char title[256];
        snprintf(title, sizeof title, "bench_step %s %dx%dx%d B %d, OMP threads %s", mc.arch, C, S, S, B,
                 getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "?");
        char *text = apt_profile_format(be, title);
        for (char *line = text, *end; *line; line = end + (*end != 0)) {
            end = strchr(line, '\n');
            if (!end) end = line + strlen(line);
            printf("profile: %.*s\n", (int)(end - line), line);
        }
        free(text);
    }
    apt_loss_workspace_free(ws);
    apt_model_destroy(model);
    apt_backend_destroy(be);
    comm->destroy(comm);
    free(x), free(E), free(dE), free(labels), free(t);
    return 0;
}
