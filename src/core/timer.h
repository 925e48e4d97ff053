// timer.h — monotonic wall time and an exponential moving average for throughput.
#pragma once

double apt_time_now(void); // seconds, CLOCK_MONOTONIC

typedef struct {
    double value; // EMA of the observed quantity
    double alpha; // smoothing factor in (0, 1]
    int n;        // samples seen
} AptEma;

static inline void apt_ema_update(AptEma *e, double x) {
    e->value = e->n == 0 ? x : e->alpha * x + (1.0 - e->alpha) * e->value;
    e->n++;
}

// Peak resident set size of this process in bytes (getrusage).
long long apt_peak_rss_bytes(void);
