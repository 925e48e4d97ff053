// signals.h — pre-emption: SIGTERM / SIGUSR1 set a flag that the trainer polls at step boundaries; it then
// writes a checkpoint and exits with APT_EXIT_REQUEUE (75) so the batch script requeues the job.
// Slurm: `#SBATCH --signal=USR1@120` (USR1 is also what mpirun forwards to its ranks; a SIGTERM to mpirun
// itself tears the job down). The flag is the one piece of process-global state: a signal handler can
// reach nothing else. Repeated signals are harmless (the flag stays set); SIGKILL remains the hard stop.
// install() also BLOCKS both signals in the calling thread (so in every thread created after it) and in the
// OpenMP pool: a signal delivered into oneDNN's JIT GEMM corrupts the heap (signals.c says why). Call it
// before creating compute or loader threads; pending() then takes the signal from the process's pending set.
#pragma once

void apt_signals_install(void); // idempotent; call from the thread that creates the others
int apt_signals_pending(void);  // signal number received since install / clear, 0 if none (main thread)
void apt_signals_clear(void);
