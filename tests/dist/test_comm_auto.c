// test_comm_auto.c — the bootstrap a GPU check uses (no GPU needed): apt_comm_init_auto takes comm_self
// without touching MPI when no launcher started the process, MPI when one did (detected from its
// variables); and the abort hook runs a registered device abort (comm_nccl's ncclCommAbort) exactly once
// before exiting, also without MPI.
#include "core/check.h"
#include "dist/comm.h"
#include "harness.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *launcher_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                                      "SLURM_PROCID"};
#define NVARS (int)(sizeof launcher_vars / sizeof launcher_vars[0])

static int g_fd = -1;
static void mark_abort(void *arg) { // stands in for ncclCommAbort: records that it ran
    if (write(g_fd, (const char *)arg, 1) != 1) _exit(99);
}
static void mark_abort_then_fail(void *arg) { // a device abort that itself fails fatally: no second run
    if (write(g_fd, (const char *)arg, 1) != 1) _exit(99);
    apt_fatal(__FILE__, __LINE__, "device abort failed (expected in this test)");
}

// Fork a child that registers fn (or nothing), then hits apt_fatal; returns its exit status, and the
// bytes the registered function wrote in `out`.
static int child_fatal(void (*fn)(void *), const char *tag, int unregister, char *out, size_t cap) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        g_fd = fds[1];
        if (freopen("/dev/null", "w", stderr) == NULL) _exit(98); // the expected fatal message
        apt_comm_set_device_abort(fn, (void *)tag);
        if (unregister) apt_comm_set_device_abort(NULL, NULL);
        apt_fatal(__FILE__, __LINE__, "injected failure");
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
    for (int i = 0; i < NVARS; i++)
        unsetenv(launcher_vars[i]); // hermetic, even when ctest runs under Slurm
    TEST_CHECK(!apt_comm_launched(), "no launcher variables: not launched");
    for (int i = 0; i < NVARS; i++) {
        setenv(launcher_vars[i], "0", 1);
        TEST_CHECK(apt_comm_launched(), "%s set: launched", launcher_vars[i]);
        unsetenv(launcher_vars[i]);
    }
    AptComm *c = apt_comm_init_auto(&argc, &argv);
    int inited = 1;
    MPI_Initialized(&inited);
    TEST_CHECK(!strcmp(c->name, "self") && c->world == 1 && c->rank == 0,
               "bare start: comm_self (got %s, world %d)", c->name, c->world);
    TEST_CHECK(!inited, "bare start: MPI_Init was not called");
    TEST_CHECK(apt_comm_sum_host(c, 2.5) == 2.5, "host scalar over comm_self");
    apt_comm_finalize(c);

    char buf[16];
    int st = child_fatal(mark_abort, "A", 0, buf, sizeof buf);
    TEST_CHECK(st == APT_EXIT_INTERNAL && !strcmp(buf, "A"),
               "apt_fatal runs the device abort once, then exits %d (status %d, ran '%s')", APT_EXIT_INTERNAL,
               st, buf);
    st = child_fatal(mark_abort, "A", 1, buf, sizeof buf);
    TEST_CHECK(st == APT_EXIT_INTERNAL && !strcmp(buf, ""),
               "unregistered device abort does not run (status %d, ran '%s')", st, buf);
    st = child_fatal(mark_abort_then_fail, "B", 0, buf, sizeof buf);
    TEST_CHECK(st == APT_EXIT_INTERNAL && !strcmp(buf, "B"),
               "a failing device abort is not re-entered (status %d, ran '%s')", st, buf);
    return apt_test_finish("test_comm_auto");
}
