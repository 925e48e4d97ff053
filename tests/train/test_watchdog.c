// test_watchdog.c — the step watchdog's deadline on one process (the lost-peer paths need two ranks and
// are tests/launch/test_lost_rank.sh): each case runs in a forked child whose stderr goes to a file.
//   - beats every 50 ms for 1 s with a 0.5 s deadline, then stops: exit 0, nothing printed;
//   - a step that outlives dist.timeout_s: exit APT_EXIT_LOST (5) and one line naming the step and key;
//   - a checkpoint that outlives dist.timeout_io_s: the same naming "checkpoint";
//   - the io allowance replaces the step deadline: a 0.6 s "evaluation" under a 0.3 s step deadline and a
//     5 s allowance passes.
#include "harness.h"
#include "core/check.h"
#include "dist/comm.h"
#include "train/watchdog.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256], g_err[300];

static void nap(double s) { usleep((useconds_t)(s * 1e6)); }

// case: 0 good beats, 1 stuck step, 2 stuck checkpoint, 3 long evaluation inside its allowance
static int run_case(int which, char *msg, size_t cap) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(g_err, "w", stderr)) _exit(99);
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
    remove(g_err);
    return apt_test_finish("test_watchdog");
}
