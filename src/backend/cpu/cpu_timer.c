// cpu_timer.c — the step-timer ops of backend.h (APT_BACKEND_TIMER_OPS) on the host clock. Every cpu op
// runs to completion before it returns, so the clock read at timer_record is when the work issued
// before it ended: the stamps are exact wall-clock phase boundaries.
#include "cpu_ops.h"

#include "core/check.h"
#include "core/timer.h"

#include <stdlib.h>

void apt_cpu_timer_create(AptBackend *be, int n, AptTimerSet *ts) {
    (void)be;
    APT_CHECK(n >= 1, "timer set of %d stamps", n);
    ts->n = n;
    ts->s = apt_calloc((size_t)n, sizeof *ts->s);
    ts->impl = apt_calloc((size_t)n, sizeof(double)); // clock readings, seconds
}

void apt_cpu_timer_free(AptBackend *be, AptTimerSet *ts) {
    (void)be;
    free(ts->s);
    free(ts->impl);
    ts->s = NULL;
    ts->impl = NULL;
    ts->n = 0;
}

void apt_cpu_timer_record(AptBackend *be, AptTimerSet *ts, int i) {
    (void)be;
    APT_CHECK(i >= 0 && i < ts->n, "timer stamp %d of %d", i, ts->n);
    ((double *)ts->impl)[i] = apt_time_now();
}

void apt_cpu_timer_read(AptBackend *be, AptTimerSet *ts, int n_read) {
    (void)be;
    APT_CHECK(n_read >= 0 && n_read <= ts->n, "timer read of %d stamps of %d", n_read, ts->n);
    const double *t = ts->impl;
    for (int i = 0; i < n_read; i++)
        ts->s[i] = t[i] - t[0];
}
