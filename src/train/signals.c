// signals.c — SIGTERM/SIGUSR1 to a flag (async-signal-safe: the handler only stores a sig_atomic_t).
#include "signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_pending = 0;

static void on_signal(int sig) { g_pending = sig; }

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
}

int apt_signals_pending(void) { return (int)g_pending; }

void apt_signals_clear(void) { g_pending = 0; }
