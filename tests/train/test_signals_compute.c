// test_signals_compute.c — pre-emption signals never interrupt a thread that computes (src/train/signals.c).
// 1. After apt_signals_install, SIGUSR1 and SIGTERM are blocked in the calling thread, in a thread it
//    creates, and in every OpenMP worker, including a pool that existed before the install.
// 2. A storm of process-directed SIGUSR1 while oneDNN runs the 7x7 valid convolution of smallcnn-flat
//    (K = 64·7·7 > the JIT GEMM's on-stack capacity: "ip:x64:gemm:jit" with RSP in a heap workspace) leaves
//    the heap intact, and the signal is still there for the step boundary. Before the fix, glibc aborted
//    here with "corrupted size vs. prev_size while consolidating" within the first second (the kernel's
//    signal frame landed on the heap below the workspace): the crash of test_slurm's pre-empted job.
// Runs ~2 s. Without oneDNN (im2col build) part 2 still runs, on OpenBLAS, as a plain check.
#include "harness.h"

#include "backend/backend.h"
#include "train/signals.h"

#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool blocked_here(void) {
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, SIGUSR1) == 1 && sigismember(&cur, SIGTERM) == 1;
}

static void *report_mask(void *out) {
    *(bool *)out = blocked_here();
    return NULL;
}

static atomic_bool g_stop;
static atomic_long g_sent;

// Sends SIGUSR1 to the process (as kill/scancel do) every ~20 us; the kernel picks a thread that accepts it.
static void *storm(void *arg) {
    (void)arg;
    sigset_t s; // never this thread: the signal must go to one that computes, if any accepts it
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    while (!atomic_load(&g_stop)) {
        kill(getpid(), SIGUSR1);
        atomic_fetch_add(&g_sent, 1);
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
    // An OpenMP pool created before the install, with the signals still open in its worker.
    omp_set_num_threads(2);
    int team = 0;
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
    }

    apt_signals_install();
    TEST_CHECK(apt_signals_pending() == 0, "a signal recorded before any was sent");

    // ---- 1. masks
    TEST_CHECK(blocked_here(), "SIGUSR1/SIGTERM not blocked in the installing thread");
    bool child = false;
    pthread_t t;
    TEST_CHECK(pthread_create(&t, NULL, report_mask, &child) == 0, "pthread_create");
    pthread_join(t, NULL);
    TEST_CHECK(child, "SIGUSR1/SIGTERM not blocked in a thread created after install");
    int open_workers = 0;
#pragma omp parallel reduction(+ : open_workers)
    open_workers += !blocked_here();
    TEST_CHECK(open_workers == 0, "SIGUSR1/SIGTERM open in %d of %d OpenMP threads", open_workers, team);
    printf("masks: installing thread, a new thread and %d OpenMP threads block SIGUSR1/SIGTERM\n", team);

    // ---- 2. signal storm during the JIT GEMM convolution (forward, backward data, backward weights)
    AptBackend *be = apt_backend_create("cpu");
    AptConvDesc d;
    const int N = 32, C = 64, HW = 7, K = 128, k = 7;
    apt_conv_desc_init(&d, N, C, HW, HW, K, k, k, 1, 0);
    be->conv2d_prepare(be, &d);
    size_t nx = (size_t)N * C * HW * HW, nw = (size_t)K * C * k * k, ny = (size_t)N * K * d.P * d.Q;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *y = malloc(ny * sizeof *y);
    float *dy = malloc(ny * sizeof *dy), *dx = malloc(nx * sizeof *dx), *dw = calloc(nw, sizeof *dw);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)((i * 7919) % 101) / 101.0f - 0.5f;
    for (size_t i = 0; i < nw; i++)
        w[i] = (float)((i * 104729) % 97) / 970.0f - 0.05f;
    for (size_t i = 0; i < ny; i++)
        dy[i] = (float)(i % 13) / 13.0f - 0.5f;
    be->conv2d_forward(be, &d, N, apt_f32(x), apt_f32(w), NULL, apt_f32(y));
    float y_ref = y[ny / 2];

    atomic_store(&g_stop, false);
    pthread_t st;
    TEST_CHECK(pthread_create(&st, NULL, storm, NULL) == 0, "pthread_create");
    double t0 = now_s();
    long iters = 0;
    bool same = true;
    while (now_s() - t0 < 1.5) {
        be->conv2d_forward(be, &d, N, apt_f32(x), apt_f32(w), NULL, apt_f32(y));
        be->conv2d_backward_data(be, &d, N, apt_f32(dy), apt_f32(w), apt_f32(dx));
        be->conv2d_backward_weights(be, &d, N, apt_f32(x), apt_f32(dy), dw, NULL);
        same = same && y[ny / 2] == y_ref;
        // Heap traffic next to oneDNN's workspace: a corrupted chunk header aborts in malloc/free.
        void *churn[8];
        for (int j = 0; j < 8; j++)
            churn[j] = malloc(512 + (size_t)((iters + j) % 8) * 1024);
        for (int j = 0; j < 8; j++)
            free(churn[j]);
        iters++;
    }
    atomic_store(&g_stop, true);
    pthread_join(st, NULL);
    TEST_CHECK(same, "convolution output changed while signals arrived");
    TEST_CHECK(apt_signals_pending() == SIGUSR1, "SIGUSR1 not recorded after %ld sent (%d)",
               atomic_load(&g_sent), apt_signals_pending());
    apt_signals_clear();
    TEST_CHECK(apt_signals_pending() == 0, "clear left a signal (%d)", apt_signals_pending());
    printf("signal storm: %ld SIGUSR1 over %ld convolution passes (forward + both backward), heap intact\n",
           atomic_load(&g_sent), iters);

    be->conv2d_release(be, &d);
    apt_backend_destroy(be);
    free(x), free(w), free(y), free(dy), free(dx), free(dw);
    return apt_test_finish("test_signals_compute");
}
