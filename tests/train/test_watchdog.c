// test_watchdog.c — the step watchdog's deadline on one process (the lost-peer paths need two ranks and
// are tests/launch/test_lost_rank.sh): each case runs in a forked child whose stderr goes to a file.
//   - beats every 50 ms for 1 s with a 0.5 s deadline, then stops: exit 0, nothing printed;
//   - a step that outlives dist.timeout_s: exit APT_EXIT_LOST (5) and one line naming the step and key;
//   - a checkpoint that outlives dist.timeout_io_s: the same naming "checkpoint";
//   - the io allowance replaces the step deadline: a 0.6 s "evaluation" under a 0.3 s step deadline and a
//     5 s allowance passes;
//   - heartbeats across nodes (a 2-rank communicator faked in process; rank 1's file written by the test
//     as from another host, so only its heartbeat can tell): a file whose wall time is 25 s stale but whose
//     sequence keeps rising is NOT lost over 4 s with heartbeat_s 1 (liveness is the sequence on the
//     reader's monotonic clock, not the writer's wall clock); the same file with a frozen sequence is lost
//     (status 5, a line naming rank 1 and its unchanged seq) within heartbeat_s + the 1 s scan + slack;
//   - start-up: the thread is armed before the first collective with the io allowance; a start-up that
//     outlives it exits 5 naming start-up.
#include "harness.h"
#include "core/check.h"
#include "dist/comm.h"
#include "train/watchdog.h"

#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256], g_err[300];

static void nap(double s) { usleep((useconds_t)(s * 1e6)); }

// A 2-rank world in one process: rank 0 is this process; collectives are no-ops (rank 0's values stand).
static void fake_bcast(AptComm *c, void *b, size_t n, AptDType dt, int root) { (void)c, (void)b, (void)n, (void)dt, (void)root; }
static void fake_allreduce(AptComm *c, void *b, size_t n, AptDType dt, AptRedOp op) { (void)c, (void)b, (void)n, (void)dt, (void)op; }
static void fake_barrier(AptComm *c) { (void)c; }
static AptComm g_two = {.rank = 0, .world = 2, .local_world = 1, .name = "fake", .bcast = fake_bcast,
                        .allreduce = fake_allreduce, .barrier = fake_barrier};

// Rank 1's heartbeat as if from another node: wall time 25 s in the past, the given sequence number.
static void write_peer(unsigned long long token, unsigned long long seq) {
    char path[400], tmp[420];
    snprintf(path, sizeof path, "%s/rank-00001", g_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long wall = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - 25000;
    FILE *f = fopen(tmp, "w");
    if (!f) _exit(98);
    fprintf(f, "aptrain-heartbeat token=%llx rank=1 pid=%d host=othernode step=3 seq=%llu wall_ms=%lld state=run\n",
            token, (int)getpid(), seq, wall);
    fclose(f);
    rename(tmp, path); // whole lines only
}

static unsigned long long own_token(void) {
    char path[400], line[256] = "";
    snprintf(path, sizeof path, "%s/rank-00000", g_dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    unsigned long long t = 0;
    return sscanf(line, "aptrain-heartbeat token=%llx", &t) == 1 ? t : 0;
}

// case 4: rising sequence (not lost), 5: frozen sequence (lost), 6: start-up outlives the io allowance
static void heartbeat_case(int which) {
    if (which == 6) {
        AptWatchdog *w = apt_watchdog_start(&g_two, g_dir, 5, 0.3, 0);
        nap(3); // no step boundary: still in start-up
        apt_watchdog_stop(w);
        _exit(0);
    }
    AptWatchdog *w = apt_watchdog_start(&g_two, g_dir, 0, 0, 1.0);
    unsigned long long token = own_token();
    if (!token) _exit(97);
    apt_watchdog_beat(w, 3); // then no boundary: after 2 s the thread reads the peers every second
    unsigned long long seq = 1;
    for (int i = 0; i < 20; i++) { // 4 s, four times heartbeat_s
        write_peer(token, which == 4 ? seq++ : seq);
        nap(0.2);
    }
    apt_watchdog_stop(w);
    _exit(0);
}


// case: 0 good beats, 1 stuck step, 2 stuck checkpoint, 3 long evaluation inside its allowance
static int run_case(int which, char *msg, size_t cap) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(g_err, "w", stderr)) _exit(99);
        if (which >= 4) heartbeat_case(which);
        AptComm *c = apt_comm_create_self();
        AptWatchdog *w = apt_watchdog_start(c, g_dir, which == 3 ? 0.3 : 0.5, which == 3 ? 5 : 0.3, 0);
        if (which == 0)
            for (int s = 0; s < 20; s++) apt_watchdog_beat(w, s), nap(0.05);
        if (which == 1) apt_watchdog_beat(w, 7), nap(3);
        if (which == 2) apt_watchdog_beat(w, 7), apt_watchdog_allow(w, "checkpoint"), nap(3);
        if (which == 3) apt_watchdog_beat(w, 3), apt_watchdog_allow(w, "evaluation"), nap(0.6);
        apt_watchdog_stop(w);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    msg[0] = 0;
    FILE *f = fopen(g_err, "r");
    if (f) {
        size_t n = fread(msg, 1, cap - 1, f);
        msg[n] = 0;
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/apt_test_watchdog_%d", (int)getpid());
    snprintf(g_err, sizeof g_err, "%s.err", g_dir);
    char msg[2048];
    int rc = run_case(0, msg, sizeof msg);
    TEST_CHECK(rc == 0 && msg[0] == 0, "regular beats: exit 0, silent");
    rc = run_case(1, msg, sizeof msg);
    printf("stuck step: rc %d: %s", rc, msg);
    TEST_CHECK(rc == APT_EXIT_LOST, "stuck step exits with APT_EXIT_LOST");
    // beat(7): 7 steps done, the 8th running (steps are numbered from 1, as on the progress line)
    TEST_CHECK(strstr(msg, "step 8 did not finish within") && strstr(msg, "dist.timeout_s"), "line names step and key");
    TEST_CHECK(strchr(msg, '\n') == msg + strlen(msg) - 1, "exactly one line");
    rc = run_case(2, msg, sizeof msg);
    printf("stuck checkpoint: rc %d: %s", rc, msg);
    TEST_CHECK(rc == APT_EXIT_LOST && strstr(msg, "the checkpoint after step 8 did not finish") &&
                   strstr(msg, "dist.timeout_io_s"),
                "stuck checkpoint names the checkpoint and dist.timeout_io_s");
    rc = run_case(3, msg, sizeof msg);
    TEST_CHECK(rc == 0 && msg[0] == 0, "an evaluation inside its allowance passes");
    rc = run_case(4, msg, sizeof msg);
    printf("rising seq, wall time 25 s stale: rc %d: %s\n", rc, msg);
    TEST_CHECK(rc == 0 && msg[0] == 0, "a peer whose heartbeat sequence rises is not lost, however old its wall time");
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    rc = run_case(5, msg, sizeof msg);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double dt = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9;
    printf("frozen seq: rc %d after %.1f s: %s", rc, dt, msg);
    TEST_CHECK(rc == APT_EXIT_LOST && strstr(msg, "lost rank 1 (pid") && strstr(msg, "on othernode silent for") &&
                   strstr(msg, "heartbeat seq 1 unchanged"),
               "a frozen sequence is lost, naming rank 1 and its seq");
    // 2 s before the thread reads (no step boundary), heartbeat_s 1, a read every 1 s: < 4 s, plus slack
    TEST_CHECK(dt < 4.0, "lost within 4 s (%.1f s)", dt);
    rc = run_case(6, msg, sizeof msg);
    printf("stuck start-up: rc %d: %s", rc, msg);
    TEST_CHECK(rc == APT_EXIT_LOST && strstr(msg, "start-up did not finish within 0.3 s (dist.timeout_io_s)"),
               "a start-up that outlives the io allowance exits 5 naming start-up");
    remove(g_err);
    return apt_test_finish("test_watchdog");
}
