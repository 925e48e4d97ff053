// watchdog.c — the step watchdog and the heartbeat files of watchdog.h.
//
// Heartbeat file DIR/rank-NNNNN, one fixed-width line rewritten in place (pwrite at offset 0, fdatasync):
//   aptrain-heartbeat token=<hex> rank=<r> pid=<pid> host=<host> step=<s> seq=<n> wall_ms=<ms> state=<run|done>
// The thread ticks every 50 ms: it checks the deadline and the processes of peers on this host (cheap),
// refreshes its own file every 0.5 s (seq + 1 each time), and reads the peers' files once a second while
// it still misses one or while the main thread has not reached a step boundary for more than 2 s (so a
// fast-stepping run on many ranks does not read every peer's file every second).
//
// Liveness is judged by the sequence number, on the READER's monotonic clock: a peer is silent when the
// seq it last showed has not changed for heartbeat_s of this process's CLOCK_MONOTONIC. Never by
// comparing the writer's wall_ms with the reader's wall clock: nodes' clocks differ (skew), and NFS
// caches a file's attributes (~30 s) so what a reader sees is late anyway; wall_ms is for people only.
// fdatasync pushes each write to the server, so the only delay left is the reader's cache, well inside
// heartbeat_s (20 s default; README "Multi-node").
//
// Start-up: the thread starts before the first collective of the run (apt_watchdog_start's token
// agreement), armed with the I/O allowance (phase "start-up"), so a peer that never arrives (stopped,
// a wrong network interface, a firewall between nodes: ncclCommInitRank waits forever) ends the run.
#include "watchdog.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { LINE = 200, HOST = 64 };

typedef struct {
    bool seen;   // a file with this run's token was read
    bool done;   // the peer finished (state=done)
    int pid;
    char host[HOST];
    long step;
    unsigned long long seq; // the peer's heartbeat sequence, last value read
    int64_t changed_ms;     // this process's monotonic ms when seq was first read with that value
} Peer;

struct AptWatchdog {
    int rank, world;
    char dir[4096], host[HOST];
    uint64_t token;
    double timeout_s, timeout_io_s, heartbeat_s;
    int fd;                     // own heartbeat file, -1 when heartbeats are off
    unsigned long long seq;     // own heartbeat sequence (written under the write lock below)
    pthread_mutex_t write_lock; // the thread's writes and apt_watchdog_stop's final one
    atomic_bool armed;          // token agreed and own file open: the thread writes and reads heartbeats
    Peer *peers;                // [world], thread-private once armed
    pthread_t thread;
    bool running;
    atomic_long step;           // step being run (published by the main thread)
    atomic_llong deadline_ms;   // monotonic ms; 0 = none armed
    atomic_llong last_beat_ms;  // monotonic ms of the last step boundary
    _Atomic(const char *) phase; // "start-up" | "step" | "evaluation" | "checkpoint" (static strings)
    atomic_bool stop;
    // Hand-over to a main thread that polls (apt_watchdog_polling): the verdict goes to it, so it ends
    // the run through the abort path (ncclCommAbort, MPI_Abort) itself; the thread's own _exit follows
    // only if it has not within HANDOVER_MS.
    atomic_bool polling;
    atomic_bool has_verdict;
    int64_t verdict_ms;         // thread-private
    char verdict[1024];         // written before has_verdict is set (release), read after (acquire)
};

enum { HANDOVER_MS = 5000 };

// The running watchdog of this process, for the atexit handler: a rank that leaves through exit() without
// apt_watchdog_stop (a NaN verdict, a user error) still marks itself finished, so its peers, leaving the
// same way a moment later, do not report it lost.
static AptWatchdog *_Atomic g_active;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Runs on the watchdog thread too: a path that does not fit is reported (-1), never raised there (DESIGN
// §5); apt_watchdog_start's own call on the main thread checks the same directory first.
static int peer_path(const char *dir, int r, char *out, size_t cap) {
    char name[32];
    snprintf(name, sizeof name, "rank-%05d", r);
    return apt_path_join_try(out, cap, dir, name);
}

static void write_own(AptWatchdog *w, const char *state) {
    if (w->fd < 0) return;
    pthread_mutex_lock(&w->write_lock);
    char line[LINE];
    int n = snprintf(line, sizeof line,
                     "aptrain-heartbeat token=%" PRIx64 " rank=%d pid=%d host=%s step=%ld seq=%llu wall_ms=%" PRId64
                     " state=%s",
                     w->token, w->rank, (int)getpid(), w->host, atomic_load(&w->step), ++w->seq, wall_ms(), state);
    if (n < 0 || n >= LINE - 1) n = LINE - 2;
    memset(line + n, ' ', (size_t)(LINE - 1 - n)); // fixed width: a shorter line never leaves a stale tail
    line[LINE - 1] = '\n';
    ssize_t wr = pwrite(w->fd, line, LINE, 0);
    (void)wr; // a full disk must not end the run; peers then see an old heartbeat (heartbeat_s is generous)
    // To the file server now (NFS writes back on close or under memory pressure otherwise): a peer on
    // another node then sees the new seq as soon as its own attribute cache lets it.
    (void)fdatasync(w->fd);
    pthread_mutex_unlock(&w->write_lock);
}

// Reads rank r's file in dir into *p; returns whether a line of this run (token) was read.
static bool read_heartbeat(const char *dir, uint64_t token_want, int r, Peer *p) {
    char path[4200], line[LINE + 1];
    if (peer_path(dir, r, path, sizeof path) != 0) return false; // unreadable: as a missing file
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = pread(fd, line, LINE, 0);
    close(fd);
    if (n <= 0) return false;
    line[n] = 0;
    uint64_t token = 0;
    int rank = -1, pid = 0;
    long step = 0;
    unsigned long long seq = 0;
    int64_t wms = 0;
    char host[HOST] = "", state[16] = "";
    if (sscanf(line,
               "aptrain-heartbeat token=%" SCNx64 " rank=%d pid=%d host=%63s step=%ld seq=%llu wall_ms=%" SCNd64
               " state=%15s",
               &token, &rank, &pid, host, &step, &seq, &wms, state) != 8 ||
        token != token_want || rank != r)
        return false; // not written yet for this run, or being rewritten: try again later
    if (!p->seen || seq != p->seq) p->changed_ms = mono_ms(); // alive: its seq moved since we last looked
    p->seen = true;
    p->done = !strcmp(state, "done");
    p->pid = pid;
    snprintf(p->host, sizeof p->host, "%s", host);
    p->step = step;
    p->seq = seq;
    return true;
}

static bool read_peer(AptWatchdog *w, int r) { return read_heartbeat(w->dir, w->token, r, &w->peers[r]); }

static _Noreturn void give_up(AptWatchdog *w, const char *why) {
    char body[1000], line[1100];
    snprintf(body, sizeof body, "[rank %d %s] %s; exiting (status %d)", w->rank, w->host, why, APT_EXIT_LOST);
    int n = snprintf(line, sizeof line, "aptrain: %s\n", body);
    ssize_t wr = write(STDERR_FILENO, line, (size_t)n);
    (void)wr;
    // Rank 0's line also goes to the run's log.txt, as the error idiom's lines do (apt_exit cannot be used
    // here: this thread must not call MPI_Abort, nor run exit()'s handlers).
    n = snprintf(line, sizeof line, "error: %s\n", body);
    apt_log_mirror_write(line, (size_t)n);
    // _exit, not exit: the main thread is inside MPI or HDF5, and atexit handlers (HDF5's) must not run
    // under it. mpirun / srun --kill-on-bad-exit notice the status and end the other ranks.
    _exit(APT_EXIT_LOST);
}

// A peer that is gone or silent: returns its rank and writes the reason, else -1.
static int lost_peer(AptWatchdog *w, bool read_files, char *why, size_t cap) {
    for (int r = 0; r < w->world; r++) {
        if (r == w->rank) continue;
        Peer *p = &w->peers[r];
        if (read_files || !p->seen) read_peer(w, r);
        if (!p->seen || p->done) continue;
        if (!strcmp(p->host, w->host) && kill(p->pid, 0) != 0 && errno == ESRCH) {
            read_peer(w, r); // it may have finished between the two looks
            if (p->done) continue;
            snprintf(why, cap, "pid %d on %s is gone", p->pid, p->host);
            return r;
        }
        // Silent: its heartbeat sequence has not moved for heartbeat_s of OUR monotonic clock.
        double age = (double)(mono_ms() - p->changed_ms) / 1000.0;
        if (w->heartbeat_s > 0 && read_files && age > w->heartbeat_s) {
            snprintf(why, cap, "pid %d on %s silent for %.0f s (heartbeat seq %llu unchanged), in step %ld", p->pid,
                     p->host, age, p->seq, p->step + 1);
            return r;
        }
    }
    return -1;
}

// "step 42" / "the checkpoint after step 42" / "the evaluation after step 42": steps are numbered from 1 as
// on the progress line (the published counter is the number of steps completed before the current one).
static void where(char *out, size_t cap, const char *phase, long step) {
    if (!strcmp(phase, "start-up"))
        snprintf(out, cap, "start-up");
    else if (!strcmp(phase, "step"))
        snprintf(out, cap, "step %ld", step + 1);
    else
        snprintf(out, cap, "the %s after step %ld", phase, step + 1);
}

// The thread has decided to end the run. A main thread polling a device wait gets the verdict and ends
// the run itself through the abort path (ncclCommAbort first, then MPI_Abort); otherwise, or if it has
// not within HANDOVER_MS, this thread writes the line and _exits.
static void decide(AptWatchdog *w, const char *msg, int64_t now) {
    if (!atomic_load(&w->polling)) give_up(w, msg);
    if (!atomic_load_explicit(&w->has_verdict, memory_order_acquire)) {
        snprintf(w->verdict, sizeof w->verdict, "%s", msg);
        w->verdict_ms = now;
        atomic_store_explicit(&w->has_verdict, true, memory_order_release);
        return;
    }
    if (now - w->verdict_ms > HANDOVER_MS) give_up(w, w->verdict);
}

static void *watch(void *arg) {
    AptWatchdog *w = arg;
    int64_t next_write = 0, next_scan = 0;
    char why[512], msg[1024], at[96];
    while (!atomic_load(&w->stop)) {
        int64_t now = mono_ms();
        long step = atomic_load(&w->step);
        const char *phase = atomic_load(&w->phase);
        const bool armed = atomic_load_explicit(&w->armed, memory_order_acquire);
        if (armed && now >= next_write) {
            write_own(w, "run");
            next_write = now + 500;
        }
        if (armed && w->world > 1 && w->fd >= 0) {
            bool stuck = now - atomic_load(&w->last_beat_ms) > 2000;
            bool all_seen = true;
            for (int r = 0; r < w->world; r++)
                if (r != w->rank && !w->peers[r].seen) all_seen = false;
            bool scan = now >= next_scan && (stuck || !all_seen);
            if (scan) next_scan = now + 1000;
            int r = lost_peer(w, scan, why, sizeof why);
            if (r >= 0) {
                where(at, sizeof at, phase, step);
                snprintf(msg, sizeof msg, "lost rank %d (%s) during %s", r, why, at);
                decide(w, msg, now);
            }
        }
        int64_t dl = atomic_load(&w->deadline_ms);
        if (dl > 0 && now > dl) {
            double limit = strcmp(phase, "step") ? w->timeout_io_s : w->timeout_s;
            int r = armed && w->world > 1 && w->fd >= 0 ? lost_peer(w, true, why, sizeof why) : -1;
            where(at, sizeof at, phase, step);
            if (r >= 0)
                snprintf(msg, sizeof msg, "%s did not finish within %g s: lost rank %d (%s)", at, limit, r, why);
            else
                snprintf(msg, sizeof msg, "%s did not finish within %g s (dist.timeout%s_s); a peer rank or this one is stuck%s",
                         at, limit, strcmp(phase, "step") ? "_io" : "", strcmp(phase, "start-up") ? "" :
                         " (a rank that never started, or ranks that cannot reach each other: network interface, firewall)");
            decide(w, msg, now);
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void stop_at_exit(void) { apt_watchdog_stop(atomic_load(&g_active)); }

AptWatchdog *apt_watchdog_start(AptComm *comm, const char *dir, double timeout_s, double timeout_io_s,
                                double heartbeat_s) {
    AptWatchdog *w = NULL;
    if (timeout_s > 0 || timeout_io_s > 0 || heartbeat_s > 0) {
        w = apt_calloc(1, sizeof *w);
        w->rank = comm->rank;
        w->world = comm->world;
        w->timeout_s = timeout_s;
        w->timeout_io_s = timeout_io_s;
        w->heartbeat_s = heartbeat_s;
        snprintf(w->dir, sizeof w->dir, "%s", dir);
        if (gethostname(w->host, sizeof w->host) != 0) snprintf(w->host, sizeof w->host, "unknown");
        w->host[HOST - 1] = 0;
        for (char *c = w->host; *c; c++)
            if (*c == ' ') *c = '_';
        w->peers = apt_calloc((size_t)w->world, sizeof *w->peers);
        w->fd = -1;
        pthread_mutex_init(&w->write_lock, NULL);
        int64_t now = mono_ms();
        atomic_init(&w->step, 0);
        // Start-up runs under the I/O allowance: the collectives below, communicator set-up (NCCL's
        // bootstrap across nodes), the model, the resume read; the first step boundary re-arms.
        atomic_init(&w->deadline_ms, timeout_io_s > 0 ? now + (int64_t)(timeout_io_s * 1000) : 0);
        atomic_init(&w->last_beat_ms, now);
        atomic_init(&w->phase, "start-up");
        atomic_init(&w->stop, false);
        atomic_init(&w->armed, false);
        atomic_init(&w->polling, false);
        atomic_init(&w->has_verdict, false);
        // The thread must not take signals meant for the main thread's handlers (SIGTERM/SIGUSR1 pre-emption).
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        w->running = pthread_create(&w->thread, NULL, watch, w) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        APT_CHECK(w->running, "cannot start the watchdog thread");
        static bool registered;
        if (!registered) registered = atexit(stop_at_exit) == 0;
        atomic_store(&g_active, w);
    }
    // Agree on a token even when this rank watches nothing: the call is collective. The first collective
    // of a run, watched: a peer that never arrives ends it at the start-up deadline.
    uint64_t token = ((uint64_t)wall_ms() << 20) ^ (uint64_t)getpid();
    if (comm->world > 1) comm->bcast(comm, &token, sizeof token, APT_U8, 0); // opaque bytes
    if (!w) return NULL;
    w->token = token;
    if (heartbeat_s > 0 && apt_mkdir_p(dir) == 0) {
        char path[4200];
        APT_CHECK(peer_path(dir, w->rank, path, sizeof path) == 0, "path too long: %s", dir);
        w->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    }
    write_own(w, "run");
    atomic_store_explicit(&w->armed, true, memory_order_release);
    return w;
}

int apt_watchdog_check_shared(AptWatchdog *w, AptComm *comm, double wait_s) {
    if (comm->world == 1) return -1;
    // heartbeat_s is the same key on every rank: either all check or none (NULL: nothing watched at all).
    double on = w && w->heartbeat_s > 0 ? 1 : 0;
    if (apt_comm_max_host(comm, on) == 0) return -1;
    comm->barrier(comm); // every rank has written its file (apt_watchdog_start)
    double missing = -1;
    if (comm->rank != 0) {
        // A new file may take a moment to show on another node (NFS caches the directory's entries):
        // look again for up to wait_s. The read goes to a private Peer: the thread owns peers[].
        Peer p0 = {0};
        bool seen = false;
        for (int64_t t0 = mono_ms(); !seen;) {
            seen = read_heartbeat(w->dir, w->token, 0, &p0);
            if (seen || mono_ms() - t0 > (int64_t)(wait_s * 1000)) break;
            nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
        }
        if (!seen) missing = comm->rank;
    }
    missing = -apt_comm_max_host(comm, missing == -1 ? -1e9 : -missing); // the lowest rank that sees none
    return missing < 0 || missing >= comm->world ? -1 : (int)missing;
}

void apt_watchdog_beat(AptWatchdog *w, long step) {
    if (!w) return;
    int64_t now = mono_ms();
    atomic_store(&w->step, step);
    atomic_store(&w->phase, "step");
    atomic_store(&w->last_beat_ms, now);
    atomic_store(&w->deadline_ms, w->timeout_s > 0 ? now + (int64_t)(w->timeout_s * 1000) : 0);
}

void apt_watchdog_allow(AptWatchdog *w, const char *what) {
    if (!w) return;
    int64_t now = mono_ms();
    atomic_store(&w->phase, !strcmp(what, "evaluation") ? "evaluation"
                            : !strcmp(what, "start-up") ? "start-up"
                                                        : "checkpoint");
    atomic_store(&w->last_beat_ms, now);
    atomic_store(&w->deadline_ms, w->timeout_io_s > 0 ? now + (int64_t)(w->timeout_io_s * 1000) : 0);
}

void apt_watchdog_polling(AptWatchdog *w, bool on) {
    if (w) atomic_store(&w->polling, on);
}

bool apt_watchdog_verdict(AptWatchdog *w, char *out, size_t cap) {
    if (!w || !atomic_load_explicit(&w->has_verdict, memory_order_acquire)) return false;
    snprintf(out, cap, "%s", w->verdict);
    return true;
}

void apt_watchdog_stop(AptWatchdog *w) {
    if (!w) return;
    AptWatchdog *expected = w;
    atomic_compare_exchange_strong(&g_active, &expected, NULL);
    atomic_store(&w->stop, true);
    if (w->running) pthread_join(w->thread, NULL);
    if (atomic_load(&w->armed)) write_own(w, "done");
    if (w->fd >= 0) close(w->fd);
    pthread_mutex_destroy(&w->write_lock);
    free(w->peers);
    free(w);
}
