// check.c — apt_fatal / apt_user_error and checked allocation.
#include "check.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// Process identity, set once at start-up; read by every error path.
static AptAbortHook g_abort_hook;
static int g_rank = 0, g_world = 1;
static const char *g_prog = "aptrain";

void apt_set_program_name(const char *name) { g_prog = name; }

void apt_set_abort_hook(AptAbortHook hook) { g_abort_hook = hook; }
void apt_set_identity(int rank, int world) {
    g_rank = rank;
    g_world = world;
}

static _Noreturn void vexit(int code, const char *prefix, const char *fmt, va_list ap, int quick);

// The main thread is the one whose thread id is the process id (Linux), whatever called apt_set_*.
static int on_main_thread(void) {
    return (pid_t)syscall(SYS_gettid) == getpid();
}

// Exit hooks: set-up state of the main thread (loaders register theirs), not touched by other threads.
enum { MAX_EXIT_HOOKS = 16 };
static struct {
    void (*fn)(void *);
    void *arg;
} g_hooks[MAX_EXIT_HOOKS];
static int g_nhooks, g_exiting;

void apt_exit_hook_add(void (*fn)(void *), void *arg) {
    APT_CHECK(g_nhooks < MAX_EXIT_HOOKS, "more than %d exit hooks", MAX_EXIT_HOOKS);
    g_hooks[g_nhooks].fn = fn;
    g_hooks[g_nhooks++].arg = arg;
}

void apt_exit_hook_remove(void (*fn)(void *), void *arg) {
    for (int i = g_nhooks - 1; i >= 0; i--)
        if (g_hooks[i].fn == fn && g_hooks[i].arg == arg) {
            memmove(&g_hooks[i], &g_hooks[i + 1], (size_t)(g_nhooks - i - 1) * sizeof g_hooks[0]);
            g_nhooks--;
            return;
        }
}

// Once only: an error inside a hook ends the run without running the remaining hooks again.
static void run_exit_hooks(void) {
    if (g_exiting) return;
    g_exiting = 1;
    while (g_nhooks > 0) {
        g_nhooks--;
        g_hooks[g_nhooks].fn(g_hooks[g_nhooks].arg);
    }
}

int apt_error_set(AptError *e, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return -1;
}

_Noreturn void apt_error_raise(const AptError *e) {
    AptError copy = *e; // e may live in a structure an exit hook tears down
    apt_exit(copy.code ? copy.code : APT_EXIT_INTERNAL, "%s", copy.msg);
}

_Noreturn void apt_vexit(int code, const char *prefix, const char *fmt, va_list ap) { vexit(code, prefix, fmt, ap, 0); }

_Noreturn void apt_user_error_now(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vexit(APT_EXIT_USER, "error: ", fmt, ap, 1);
}

static _Noreturn void vexit(int code, const char *prefix, const char *fmt, va_list ap, int quick) {
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    char line[2800];
    if (g_world > 1)
        snprintf(line, sizeof line, "%s[rank %d %s] %s", prefix, g_rank, host, msg);
    else
        snprintf(line, sizeof line, "%s%s", prefix, msg);
    fprintf(stderr, "%s: %s\n", g_prog, line);
    fflush(stderr);
    fflush(stdout);
    apt_log_mirror_line(line); // the run's log.txt (rank 0 during training), like the logger's own lines
    if (!on_main_thread()) {
        // Not ours to end the run (DESIGN §5): exit() here would run library finalisers under the main
        // thread (seen: cuBLAS's, while the main thread faulted in oneDNN) and MPI may not be called from
        // this thread. Worker code hands user errors over instead (AptError); this is the backstop.
        fflush(NULL);
        _exit(code);
    }
    if (!quick) run_exit_hooks();         // stop and join worker threads before anything is torn down
    if (g_abort_hook) g_abort_hook(code); // takes every rank down; may not return
    if (quick) {
        fflush(NULL); // every open output stream (logs, metrics) still gets its data
        _exit(code);
    }
    exit(code);
}

_Noreturn void apt_exit(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    apt_vexit(code, "error: ", fmt, ap);
}

_Noreturn void apt_user_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    apt_vexit(APT_EXIT_USER, "error: ", fmt, ap);
}

_Noreturn void apt_fatal(const char *file, int line, const char *fmt, ...) {
    char where[512];
    snprintf(where, sizeof where, "internal error: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    apt_vexit(APT_EXIT_INTERNAL, where, fmt, ap);
}

void *apt_malloc_(size_t bytes, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) apt_fatal(file, line, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *apt_calloc_(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) apt_fatal(file, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *apt_aligned_alloc_(size_t bytes, const char *file, int line) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0)
        apt_fatal(file, line, "out of memory allocating %zu bytes", bytes);
    return p;
}
