// timer.c — monotonic clock and peak memory.
#define _POSIX_C_SOURCE 200809L
#include "timer.h"

#include <sys/resource.h>
#include <time.h>

double apt_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long long apt_peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long long)ru.ru_maxrss * 1024LL; // Linux reports KiB
}
