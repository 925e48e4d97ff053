// check.c — apt_fatal / apt_user_error and checked allocation.
#include "check.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
