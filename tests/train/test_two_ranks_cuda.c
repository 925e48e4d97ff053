// test_two_ranks_cuda.c — the multi-rank device path on ONE GPU (tests/gpu/run.sh --two-ranks):
//   mpirun -np 2 test_two_ranks_cuda
// Both ranks train on the same GPU with device cuda and dist.backend mpi, so every device buffer the ranks
// exchange goes through the staged communicator (host scratch + Open MPI; Open MPI here is not CUDA-aware):
// the E all-gather, the dE reduce-scatter, sync BatchNorm's float64 sums and the bucketed gradient
// all-reduce. The run must equal one rank training the whole global batch alone (DESIGN §1 exactness):
// rank 0 repeats it on its own (self communicator, same GPU) and compares
//   per-step loss:     |l_2 - l_1| <= tol |l_1|   (tol: 1e-5 on the CPU twin, 1e-4 on the GPU, as below)
//   weights, buffers:  per tensor ||w_2 - w_1||_2 <= tol ||w_1||_2
// for two cases: BN sync + Adam (the BN sums cross ranks) and BN frozen + SGD momentum (the gradient
// itself, which Adam's scale invariance would hide). tol is test_trainer's 1e-5 on the CPU; on the GPU
// 1e-4: at b = 16 and B = 32 cuDNN and cuBLAS may pick other algorithms than at B = 32 alone, and each
// rounds differently (test_backend_ops_cuda: ~1e-6 relative per op), which 5 steps amplify.
// Also checked: the W = 2 run repeated is bitwise identical (fixed algorithms, fixed reduction order).
// Skips (exit 77) on every rank when any rank sees no CUDA device.
// APT_TEST_CPU_TWIN=1 (ctest test_two_ranks_cuda_twin, in CI with APT_GUARD_BACKEND=1): the same harness
// on the guard backend — the CPU kernels over memory host code cannot read, staged like a GPU with
// dist.backend mpi — with the CPU tolerance, so the harness itself is proven before a GPU runs it.
#include "harness.h"
#include "train_fixture.h"
#include "backend/backend.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

enum { STEPS = 5 };

// The shared small run (train_fixture.h) on cuda (cpu: the guard twin) with dist.backend mpi (staged).
static void config(AptConfig *cfg, const TrainDirs *d, const char *name, bool twin, int variant) {
    train_config_base(cfg, d, name);
    snprintf(cfg->dist.backend, sizeof cfg->dist.backend, "mpi"); // staged through host memory
    cfg->seed = 13;
    cfg->device = twin ? APT_DEVICE_CPU : APT_DEVICE_CUDA;
    cfg->dist.heartbeat_s = 0; // rank 0's W = 1 reference runs while rank 1 waits in a barrier
    if (variant == 0) {
        cfg->model.bn = APT_BN_SYNC;
        cfg->optim.name = APT_OPT_ADAM;
        cfg->optim.lr = 1e-3;
    }
}

// Trains cfg on comm c; every rank gets a host mirror of the final weights and buffers.
static void train(const AptConfig *cfg, AptComm *c, bool twin, AptParamStore *mirror) {
    AptTrainerOptions o = {.quiet = true, .no_eval = true};
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    TEST_CHECK(apt_trainer_run(t) == 0, "%s: run failed on rank %d", cfg->run_name, c->rank);
    const char *be = apt_trainer_params(t)->be->name, *want = twin ? "guard" : "cuda";
    TEST_CHECK(!strcmp(be, want), "%s: ran on backend %s, want %s", cfg->run_name, be, want);
    apt_params_host_mirror(apt_trainer_params(t), mirror);
    apt_trainer_destroy(t);
}

// Worst per-tensor ||x - y|| / ||y|| over weights and buffers; tensors over tol are named (tol 0: bitwise).
static double compare(const AptParamStore *x, const AptParamStore *y, double tol, const char *what) {
    double worst = 0;
    int bad = 0;
    TEST_CHECK(x->n == y->n && x->numel == y->numel, "%s: different models", what);
    for (int i = 0; i < y->n && x->n == y->n; i++) {
        const AptParam *p = &y->p[i];
        const float *a = (p->is_buffer ? x->buffers : x->w) + p->offset;
        const float *b = (p->is_buffer ? y->buffers : y->w) + p->offset;
        double d2 = 0, b2 = 0;
        for (size_t j = 0; j < p->numel; j++) d2 += pow((double)a[j] - b[j], 2), b2 += (double)b[j] * b[j];
        const double r = b2 > 0 ? sqrt(d2 / b2) : sqrt(d2);
        const bool ok = tol > 0 ? r <= tol : !memcmp(a, b, p->numel * sizeof(float));
        worst = fmax(worst, r);
        if (!ok && bad++ < 5) fprintf(stderr, "  %s: %s: ||diff|| / ||w|| = %.3g (tol %g)\n", what, p->name, r, tol);
    }
    TEST_CHECK(bad == 0, "%s: %d tensors outside tolerance %g", what, bad, tol);
    return worst;
}

int main(int argc, char **argv) {
    const bool twin = getenv("APT_TEST_CPU_TWIN") != NULL;
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_ERROR, 0);
    apt_h5_init();
    const char *why = NULL;
    AptBackend *probe = twin ? NULL : apt_backend_cuda_create_on(c->local_rank, &why);
    const double missing = apt_comm_max_host(c, twin || probe ? 0.0 : 1.0);
    if (probe) apt_backend_destroy(probe);
    if (missing > 0) {
        if (c->rank == 0) printf("test_two_ranks_cuda: skipped (%s)\n", why ? why : "a rank has no CUDA device");
        apt_comm_finalize(c);
        return 77;
    }
    if (c->world != 2 && c->rank == 0) printf("test_two_ranks_cuda: note: world %d (written for 2)\n", c->world);
    const double tol_w = twin ? 1e-5 : 1e-4, tol_loss = twin ? 1e-5 : 1e-4;
    TrainDirs d;
    train_dirs_make(c, "two_ranks", &d, 8, 16, 8, 28, 28, 1);
    AptComm *self = apt_comm_create_self();
    const char *case_name[2] = {"bn sync + adam", "bn frozen + sgd"};
    for (int v = 0; v < 2; v++) {
        AptConfig cfg;
        char name[64], what[160];
        AptParamStore w2, again, w1;
        snprintf(name, sizeof name, "w%d_case%d", c->world, v);
        config(&cfg, &d, name, twin, v);
        train(&cfg, c, twin, &w2);
        snprintf(cfg.run_name, sizeof cfg.run_name, "%s_again", name);
        train(&cfg, c, twin, &again);
        if (c->rank == 0) {
            AptConfig one;
            snprintf(name, sizeof name, "w1_case%d", v);
            config(&one, &d, name, twin, v);
            train(&one, self, twin, &w1);
            double l2[STEPS + 1], l1[STEPS + 1];
            char name2[64];
            snprintf(name2, sizeof name2, "w%d_case%d", c->world, v);
            const int n2 = train_read_losses(d.out, name2, l2, STEPS + 1);
            const int n1 = train_read_losses(d.out, name, l1, STEPS + 1);
            TEST_CHECK(n2 == STEPS && n1 == STEPS, "%s: losses logged: W=%d %d, W=1 %d (want %d)", case_name[v],
                       c->world, n2, n1, STEPS);
            double worst_loss = 0;
            for (int i = 0; i < n1 && i < n2; i++) {
                const double r = fabs(l2[i] - l1[i]) / fabs(l1[i]);
                worst_loss = fmax(worst_loss, r);
                TEST_CHECK(r <= tol_loss, "%s: step %d loss W=%d %.9g vs W=1 %.9g (rel %.3g, tol %g)", case_name[v],
                           i + 1, c->world, l2[i], l1[i], r, tol_loss);
            }
            snprintf(what, sizeof what, "%s: W=%d vs W=1 after %d steps", case_name[v], c->world, STEPS);
            const double worst = compare(&w2, &w1, tol_w, what);
            printf("%s: worst per-tensor ||w_W - w_1|| / ||w_1|| = %.3g (tol %g), worst loss rel %.3g (tol %g)\n",
                   what, worst, tol_w, worst_loss, tol_loss);
            snprintf(what, sizeof what, "%s: W=%d run twice", case_name[v], c->world);
            printf("%s: bitwise identical: %s\n", what, compare(&again, &w2, 0, what) == 0 ? "yes" : "no");
            apt_params_host_free(&w1);
        }
        apt_params_host_free(&w2);
        apt_params_host_free(&again);
        c->barrier(c);
    }
    self->destroy(self);
    train_dirs_remove(c, &d);
    int rc = apt_test_finish(twin ? "test_two_ranks_cuda (guard twin)" : "test_two_ranks_cuda");
    apt_comm_finalize(c);
    return rc;
}
