// progress.h — the rank-0 progress line and metrics.jsonl (DESIGN §5).
//   progress line: "epoch 3 step 120/900 loss 0.41230 lr 1.000e-03 1234 img/s ETA 5m12s
//                   (data 3% fwd 30% xchg 2% loss 5% bwd 50% ar 4% opt 6% other 0%)" (one line; the split
//                   is "(data 3% step 95% other 2%)" when no phases were given, see apt_progress_phases)
//   metrics.jsonl: one JSON object per logged step ({"type":"train",...}) and per evaluation
//                  ({"type":"eval",...}); appended, flushed per line (a killed run keeps what it logged).
// Non-zero ranks keep an inert AptProgress (every call is a no-op), so callers need no rank tests.
#pragma once
#include "step_timer.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    FILE *metrics;      // NULL on ranks other than 0
    FILE *out;          // where the progress line goes (stdout), NULL on other ranks
    long total_steps;
    double t_start;     // wall time of open
    double t_last;      // wall time of the previous apt_progress_step
    long step_last;     // step of the previous call
    double steps_per_s; // EMA over logging intervals, for the ETA
    double images_per_s;
    double data_s, step_s; // since the previous logged step: waiting for the loader, inside the training step
    double phase[APT_PHASE_COUNT]; // seconds per step by phase, for the next apt_progress_step
    bool has_phase;
} AptProgress;

// Opens RUN_DIR/metrics.jsonl for appending (rank 0). start_step: the step the run (or resume) starts at.
void apt_progress_open(AptProgress *p, const char *run_dir, int rank, long total_steps, long start_step);
// Called at a logging interval, after `step` steps are complete: images = images processed (all ranks)
// since the previous call. Writes one metrics line; prints the progress line when print is true.
void apt_progress_step(AptProgress *p, int epoch, long step, double loss, double lr, long images, bool print);
// Time of one step on this rank, split: waiting for its batch (data_s) and the training step itself
// (step_s: forward, embedding exchange, loss, backward, gradient all-reduce, optimizer). Summed until the
// next apt_progress_step, which writes them as "data_s" / "step_s" and the rest of the interval
// (evaluation, checkpoint, logging) as "other_s", and shows the shares on the progress line.
void apt_progress_time(AptProgress *p, double data_s, double step_s);
// The interval's per-step phase means (step_timer.h, apt_step_timer_take) for the next apt_progress_step,
// which writes them as "t_data_s" ... "t_optim_s" (seconds per step) after "other_s" and shows each as a
// share of the interval's wall time per step on the progress line. Not given: neither appears.
void apt_progress_phases(AptProgress *p, const double phase[APT_PHASE_COUNT]);
// One evaluation: n named values ("recall@1", "map", ...).
void apt_progress_eval(AptProgress *p, int epoch, long step, int n, const char *const *names,
                       const double *values);
void apt_progress_close(AptProgress *p);
// "5m12s", "1h02m", "37s" — for the ETA and logs.
void apt_format_duration(char *out, size_t cap, double seconds);
