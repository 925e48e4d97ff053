// test_guard.c — the guard test backend itself (src/backend/guard/): its ops give the CPU kernels'
// results (the step-tail cases of step_ops_cases.h, bitwise for the loss), and it really guards:
//   - a host read or write of a guard allocation outside an op dies with SIGSEGV (forked children);
//   - between ops, memory an op wrote stays unreadable, and be->copy still reads it back;
//   - a copy whose device side is not guard memory, or whose host side is, is refused (fatal, exit != 0).
#include "backend/backend.h"
#include "harness.h"
#include "step_ops_cases.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

// Run fn in a child; returns the signal that killed it (0: exited, *status = exit code).
static int in_child(void (*fn)(AptBackend *), AptBackend *be, int *status) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        fn(be);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static volatile float sink;
static void host_read(AptBackend *be) {
    float *p = be->alloc(be, 64 * sizeof(float));
    be->fill(be, 64, 3.0f, p); // an op wrote it; the host still may not look
    sink = p[5];
}
static void host_write(AptBackend *be) {
    float *p = be->alloc(be, 1000 * sizeof(float));
    p[999] = 1.0f;
}
static void copy_from_host_as_device(AptBackend *be) {
    float host[4] = {0}, back[4];
    be->copy(be, back, host, sizeof host, APT_COPY_D2H); // "device" source is host memory: refused
}
static void copy_to_device_as_host(AptBackend *be) {
    float *p = be->alloc(be, 4 * sizeof(float)), *q = be->alloc(be, 4 * sizeof(float));
    be->copy(be, p, q, 4 * sizeof(float), APT_COPY_H2D); // "host" source is guard memory: refused
}

int main(void) {
    AptBackend *be = apt_backend_guard_create();
    TEST_CHECK(!strcmp(be->name, "guard") && !apt_backend_is_host(be), "guard backend name / host memory flag");
    int st = 0;
    int sig = in_child(host_read, be, &st);
    TEST_CHECK(sig == SIGSEGV, "host read of guard memory after an op: signal %d (status %d), want SIGSEGV", sig, st);
    sig = in_child(host_write, be, &st);
    TEST_CHECK(sig == SIGSEGV, "host write to guard memory: signal %d (status %d), want SIGSEGV", sig, st);
    sig = in_child(copy_from_host_as_device, be, &st);
    TEST_CHECK(sig == 0 && st != 0, "D2H copy from host memory: signal %d status %d, want a fatal error", sig, st);
    sig = in_child(copy_to_device_as_host, be, &st);
    TEST_CHECK(sig == 0 && st != 0, "H2D copy from guard memory: signal %d status %d, want a fatal error", sig, st);

    // Through the table, everything works: fill, then copy back.
    float *p = be->alloc(be, 10 * sizeof(float)), h[10];
    be->fill(be, 10, 2.5f, p);
    be->copy(be, h, p, sizeof h, APT_COPY_D2H);
    TEST_CHECK(h[0] == 2.5f && h[9] == 2.5f, "fill + copy back: %g %g", h[0], h[9]);
    be->free(be, p);
    check_step_ops(be, true);
    apt_backend_destroy(be);
    return apt_test_finish("test_guard");
}
