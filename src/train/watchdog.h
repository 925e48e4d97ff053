// watchdog.h — the step watchdog: a rank whose peer died or hung, or whose own step never ends, exits with
// one line naming the lost rank (when known) and the step, instead of waiting in a collective forever.
//
// MPI runs MPI_THREAD_FUNNELED, so the watchdog thread never calls MPI. It only reads what the main thread
// publishes through atomics (the step and its deadline), writes this rank's heartbeat file and reads the
// peers' files in DIR (the run directory's heartbeat/): one text line per rank with pid, host, step and a
// sequence number, refreshed (and fdatasync'ed) every 0.5 s by the peer's own watchdog thread. A peer is
// lost when its process is gone (same host: kill(pid, 0)) or its sequence has not changed for heartbeat_s
// on this process's own monotonic clock (a stopped or frozen process; wall clocks of different nodes are
// never compared). DIR must be on a file system every node shares: apt_watchdog_check_shared finds a
// rank that does not see rank 0's file. On expiry the thread writes the line to stderr (rank 0: also to
// log.txt) and calls _exit(APT_EXIT_LOST); mpirun / srun --kill-on-bad-exit then end the remaining
// ranks. While the main thread polls a device wait (apt_watchdog_polling), the verdict is handed to it
// instead (apt_watchdog_verdict), so it ends the run through the abort path (ncclCommAbort, MPI_Abort);
// the thread's own _exit follows 5 s later if it has not. Checkpoints are written to a temp name and
// renamed, so latest.h5 stays the last complete one.
//
//   AptWatchdog *w = apt_watchdog_start(comm, dir, cfg->dist.timeout_s, cfg->dist.timeout_io_s,
//                                       cfg->dist.heartbeat_s);   // collective, main thread; phase
//                                                                  // "start-up" under timeout_io_s
//   int r = apt_watchdog_check_shared(w, comm, 10);   // collective: -1, or a rank that sees no rank 0 file
//   apt_watchdog_beat(w, step);            // main thread, at every step boundary: deadline = now + timeout_s
//   apt_watchdog_allow(w, "checkpoint");   // before an evaluation / a checkpoint: deadline = now + timeout_io_s
//   apt_watchdog_stop(w);                  // marks this rank finished (peers stop watching it), joins
#pragma once
#include "dist/comm.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct AptWatchdog AptWatchdog;

// Collective over comm (agrees on a run token so stale files of an earlier run are ignored); the thread
// starts BEFORE that first collective, in phase "start-up" with the timeout_io_s deadline. Timeouts in
// seconds, 0 = that check off; all three 0 starts no thread. Returns NULL when nothing is watched.
AptWatchdog *apt_watchdog_start(AptComm *comm, const char *dir, double timeout_s, double timeout_io_s,
                                double heartbeat_s);
// Collective, right after apt_watchdog_start (w may be NULL on every rank). With heartbeats on: after a
// barrier each rank looks for rank 0's heartbeat file of this run (for up to wait_s: NFS may show a new
// file late); returns the lowest rank that does not see it (its run directory is not rank 0's: not a
// shared file system, or a relative out_dir under different working directories), or -1 (also when
// heartbeats are off, or world 1). The same value on every rank.
int apt_watchdog_check_shared(AptWatchdog *w, AptComm *comm, double wait_s);
// Main thread only. The step that is starting (the global step counter before it is incremented).
void apt_watchdog_beat(AptWatchdog *w, long step);
// Main thread only. The next phase is an evaluation or checkpoint write, or (again) start-up (what:
// "evaluation" | "checkpoint" | "start-up", for the message); deadline = now + timeout_io_s.
void apt_watchdog_allow(AptWatchdog *w, const char *what);
// Main thread only; w may be NULL. on: the main thread is in a host wait that polls and will check
// apt_watchdog_verdict between polls; off: it has left it.
void apt_watchdog_polling(AptWatchdog *w, bool on);
// Main thread, while polling: true and the thread's one-line verdict (lost rank / deadline) when it has
// decided the run must end; the caller ends it with APT_EXIT_LOST through the abort path.
bool apt_watchdog_verdict(AptWatchdog *w, char *out, size_t cap);
// Main thread only; w may be NULL.
void apt_watchdog_stop(AptWatchdog *w);
