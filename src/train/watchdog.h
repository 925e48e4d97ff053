// watchdog.h — the step watchdog: a rank whose peer died or hung, or whose own step never ends, exits with
// one line naming the lost rank (when known) and the step, instead of waiting in a collective forever.
//
// MPI runs MPI_THREAD_FUNNELED, so the watchdog thread never calls MPI. It only reads what the main thread
// publishes through atomics (the step and its deadline), writes this rank's heartbeat file and reads the
// peers' files in DIR (the run directory's heartbeat/): one text line per rank with pid, host, step and
// wall time, refreshed every 0.5 s by the peer's own watchdog thread. A peer is lost when its process is
// gone (same host: kill(pid, 0)) or its heartbeat is older than heartbeat_s (a stopped or frozen process;
// needs DIR on a file system shared by the nodes, otherwise only the step deadline applies). On expiry
// the thread writes the line to stderr (rank 0: also to log.txt) and calls _exit(APT_EXIT_LOST); mpirun /
// srun --kill-on-bad-exit then end the remaining ranks. Checkpoints are written to a temp name and
// renamed, so latest.h5 stays the last complete one.
//
//   AptWatchdog *w = apt_watchdog_start(comm, dir, cfg->dist.timeout_s, cfg->dist.timeout_io_s,
//                                       cfg->dist.heartbeat_s);   // collective, main thread
//   apt_watchdog_beat(w, step);            // main thread, at every step boundary: deadline = now + timeout_s
//   apt_watchdog_allow(w, "checkpoint");   // before an evaluation / a checkpoint: deadline = now + timeout_io_s
//   apt_watchdog_stop(w);                  // marks this rank finished (peers stop watching it), joins
#pragma once
#include "dist/comm.h"

typedef struct AptWatchdog AptWatchdog;

// Collective over comm (agrees on a run token so stale files of an earlier run are ignored). Timeouts in
// seconds, 0 = that check off; all three 0 starts no thread. Returns NULL when nothing is watched.
AptWatchdog *apt_watchdog_start(AptComm *comm, const char *dir, double timeout_s, double timeout_io_s,
                                double heartbeat_s);
// Main thread only. The step that is starting (the global step counter before it is incremented).
void apt_watchdog_beat(AptWatchdog *w, long step);
// Main thread only. The next phase is an evaluation or checkpoint write (what: for the message).
void apt_watchdog_allow(AptWatchdog *w, const char *what);
// Main thread only; w may be NULL.
void apt_watchdog_stop(AptWatchdog *w);
