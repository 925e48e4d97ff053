// log.h — levelled logging. Only rank 0 prints unless `logging.all_ranks` is set; an optional
// mirror file (the run directory's log.txt) receives every line rank 0 prints.
#pragma once
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { APT_LOG_ERROR = 0, APT_LOG_WARN, APT_LOG_INFO, APT_LOG_DEBUG } AptLogLevel;

void apt_log_init(int rank, AptLogLevel level, int all_ranks);
void apt_log_set_mirror(FILE *f); // not owned; NULL to stop mirroring
// One line (no newline) into the mirror file only, flushed; nothing without a mirror. For the error path
// (check.c), which prints its own line to stderr: a run's fatal or user error also lands in its log.txt.
void apt_log_mirror_line(const char *line);
// The same for a thread that ends the process while the main thread may be anywhere (the step watchdog):
// one write(2) of line[0..n) (newline included) to the mirror's descriptor, no stdio lock taken.
void apt_log_mirror_write(const char *line, size_t n);
AptLogLevel apt_log_level_parse(const char *s, int *ok);

void apt_log(AptLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define apt_info(...) apt_log(APT_LOG_INFO, __VA_ARGS__)
#define apt_warn(...) apt_log(APT_LOG_WARN, __VA_ARGS__)
#define apt_debug(...) apt_log(APT_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
