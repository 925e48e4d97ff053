// log.c — levelled, rank-aware logging to stderr (warnings) / stdout (info) and a mirror file.
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

// Process-level logging settings, set once at start-up.
static int g_rank = 0, g_all_ranks = 0;
static AptLogLevel g_level = APT_LOG_INFO;
static FILE *g_mirror = NULL;

void apt_log_init(int rank, AptLogLevel level, int all_ranks) {
    g_rank = rank;
    g_level = level;
    g_all_ranks = all_ranks;
}

void apt_log_set_mirror(FILE *f) { g_mirror = f; }

void apt_log_mirror_line(const char *line) {
    if (!g_mirror) return;
    fprintf(g_mirror, "%s\n", line);
    fflush(g_mirror);
}

void apt_log_mirror_write(const char *line, size_t n) {
    FILE *f = g_mirror;
    if (!f) return;
    ssize_t wr = write(fileno(f), line, n); // log.txt is opened for append: the line lands at the end
    (void)wr;
}

AptLogLevel apt_log_level_parse(const char *s, int *ok) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *ok = 1;
            return (AptLogLevel)i;
        }
    *ok = 0;
    return APT_LOG_INFO;
}

void apt_log(AptLogLevel level, const char *fmt, ...) {
    if (level > g_level) return;
    if (g_rank != 0 && !g_all_ranks && level > APT_LOG_WARN) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *tag = level == APT_LOG_ERROR ? "error: " : level == APT_LOG_WARN ? "warning: " : "";
    FILE *out = level <= APT_LOG_WARN ? stderr : stdout;
    if (g_all_ranks)
        fprintf(out, "[%d] %s%s\n", g_rank, tag, msg);
    else
        fprintf(out, "%s%s\n", tag, msg);
    fflush(out);
    if (g_mirror && g_rank == 0) {
        fprintf(g_mirror, "%s%s\n", tag, msg);
        fflush(g_mirror);
    }
}
