// device_wait.c — the step's host wait (before its one scalar read) as a poll, not a blocking stream
// synchronisation. A cudaStreamSynchronize behind an NCCL kernel that waits for a failed or hung peer
// returns only when that kernel does: never, or at the watchdog's dist.timeout_s (600 s), and then the
// watchdog's _exit leaves without ncclCommAbort and without NCCL's error text. Polling instead:
//   - the device's progress (be->poll: cudaEventQuery on a marker after the step's kernels),
//   - NCCL's asynchronous error on BOTH device communicators (dcomm: E/dE/BN sums; gcomm: buckets), so a
//     network error or a peer's failure NCCL has noticed ends the run within milliseconds of NCCL
//     noticing, with NCCL's own text in the line;
//   - the watchdog's verdict: a lost peer (process gone, or its heartbeat sequence stopped for
//     dist.heartbeat_s) or the step deadline (dist.timeout_s, the bound for silent hangs), handed to this
//     thread while it polls.
// Either ends the run here, on the main thread, through the one abort path: apt_exit(APT_EXIT_LOST) runs
// the abort hook, which calls ncclCommAbort on every NCCL communicator (releasing kernels blocked on a
// peer) and then MPI_Abort. Backends whose ops have finished when they return (cpu, guard) have no poll
// and return at once. Naps: 20 us for the first 2 ms (a step's tail is usually that short), then 200 us.
//
// Compiled here (no GPU on the build machine); what the GPU check must confirm: test_train_cuda (one GPU,
// already in tests/gpu/run.sh's gpu-labelled tests) runs every step through cuda_poll, so equal results
// there show the poll returns when the step is done; on 2+ GPUs (not yet in run.sh): a peer killed
// mid-step ends the other ranks with status 5 and an "NCCL error on rank R: ..." line within seconds;
// a SIGSTOPped peer within dist.heartbeat_s; two ranks with CUDA_VISIBLE_DEVICES=0 are refused by
// agree.c's PCI bus id check.
#include "trainer_impl.h"

#include "core/check.h"
#include "watchdog.h"

#include <time.h>

void apt_train_wait_device(AptTrainer *t) {
    AptBackend *be = t->be;
    if (!be->poll || be->poll(be, 1)) return;
    AptComm *comms[2] = {t->dcomm, t->gcomm != t->dcomm ? t->gcomm : NULL};
    char why[1100];
    apt_watchdog_polling(t->watchdog, true);
    for (long i = 0;; i++) {
        for (int k = 0; k < 2; k++)
            if (comms[k] && comms[k]->poll_error && comms[k]->poll_error(comms[k], why, sizeof why))
                apt_exit(APT_EXIT_LOST, "%s, in step %ld; aborting the NCCL communicators", why, t->step + 1);
        if (apt_watchdog_verdict(t->watchdog, why, sizeof why)) apt_exit(APT_EXIT_LOST, "%s", why);
        if (be->poll(be, 0)) break;
        struct timespec nap = {0, i < 100 ? 20000L : 200000L};
        nanosleep(&nap, NULL);
    }
    apt_watchdog_polling(t->watchdog, false);
}
