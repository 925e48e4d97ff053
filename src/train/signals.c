// signals.c — SIGTERM/SIGUSR1 to a flag that the trainer polls at step boundaries.
//
// Why the two signals are BLOCKED in every thread that computes, not merely caught: to run a handler the
// kernel writes a signal frame (the registers plus the XSAVE area, ~3 KiB with AVX-512) just below the
// interrupted thread's stack pointer, whatever the handler does. oneDNN 2.x's JIT f32 GEMM kernels
// (jit_avx512_common_gemm_f32, jit_avx_gemm_f32: the "ip:x64:gemm:jit" and "x64:gemm:jit" convolutions, e.g.
// the small CNN's 7x7 conv4) point RSP into a HEAP workspace while they run whenever K exceeds their on-stack
// capacity (`mov rsp, ARG_WS`; oneDNN issue #4845, fixed upstream in 2026 by PR #4855, long after Debian's
// 2.6.3). A pre-emption signal that lands in such a kernel writes its frame over the heap chunks below the
// workspace, and glibc aborts later in an unrelated free(): "corrupted size vs. prev_size" in oneDNN, or
// "double free or corruption" in fclose (test_slurm in CI; tests/launch/stress_preempt.sh: 2 crashes in 50
// pre-emption runs before this change). A blocked signal is never delivered to a thread, so no frame is
// written. Hence:
//   - install() blocks them in the calling thread, so every thread created after it inherits the mask: the
//     OpenMP workers that run oneDNN, the loader workers, the watchdog; and in the OpenMP pool's threads
//     that already exist (a parallel region that blocks them in each);
//   - pending() collects a signal that is pending for the process with sigtimedwait (non-blocking), at the
//     step boundary, in the main thread;
//   - the handler stays, and only stores the flag, for threads that existed before install() and still
//     accept the signals (Open MPI's progress threads, OpenBLAS's pool): they run no JIT code.
// Children forked after install() inherit the blocked mask (aptrain train forks none).
#include "signals.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t g_pending = 0;

static void on_signal(int sig) {
    g_pending = sig;
}

static void preempt_signals(sigset_t *s) {
    sigemptyset(s);
    sigaddset(s, SIGTERM);
    sigaddset(s, SIGUSR1);
}

// A pre-emption signal pending for the process or this thread, taken without waiting; 0 if none.
static int take_pending(void) {
    sigset_t s;
    preempt_signals(&s);
    const struct timespec zero = {0, 0};
    int sig = sigtimedwait(&s, NULL, &zero);
    return sig > 0 ? sig : 0;
}

void apt_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    // No SA_RESETHAND: batch scripts may forward the same pre-emption signal more than once (the batch
    // shell's trap plus Slurm's own delivery); a repeat must not kill the rank before its checkpoint.
    // SA_RESTART: blocking reads and MPI progress continue instead of failing with EINTR.
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t s;
    preempt_signals(&s);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    // Pool threads keep the mask they were created with: block the signals in each existing one too (the
    // default team is the one oneDNN's OpenMP runtime uses; larger teams get new threads from this one).
#pragma omp parallel
    pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int apt_signals_pending(void) {
    if (!g_pending) {
        int sig = take_pending();
        if (sig) g_pending = sig;
    }
    return (int)g_pending;
}

void apt_signals_clear(void) {
    while (take_pending()) {
    } // repeats that arrived before the stop are part of the signal being cleared
    g_pending = 0;
}
