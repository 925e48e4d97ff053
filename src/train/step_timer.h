// step_timer.h — where a training step's time goes, per rank: seven phases, summed over the steps of a
// logging interval and written as means per step (metrics.jsonl "t_<phase>_s", the progress line's
// shares; README "Training").
//
//   data       waiting for the batch: the loader fetch at the step boundary and the next batch's fetch +
//              upload issued inside the step (cpu: synchronous; cuda: the compute stream's wait for the
//              upload, and any stall while the host fetches)
//   forward    the model's forward (train.chunk: both passes' forwards; sync BatchNorm's statistic
//              all-reduces are inside it)
//   exchange   all-gather of E and reduce-scatter of dE
//   loss       the ranking loss and its gradient dE
//   backward   the model's backward (the gradient buckets it starts overlap with it)
//   allreduce  the wait for the gradient buckets after backward has finished, plus the loss's scalar sum
//              over the ranks; the bucket all-reduces that finished during backward cost nothing here
//   optim      gradient norm and finite check, clipping, the optimizer update
//
// How time is taken (no host synchronisation is added to a step): the step places stamps between its
// phases with backend timer ops (backend.h APT_BACKEND_TIMER_OPS). The cpu backend stamps the host clock
// and its ops are synchronous, so cpu phases are exact wall-clock spans that tile the step. The cuda
// backend records events on its compute stream; a step's events are read during the step after next
// (whose blocking scalar read has passed them: no wait), and at a logging step the last two steps' are
// read, the newest with a wait for its optimizer kernels — once per logging interval, never per step.
// The boundary fetch is host time (apt_step_timer_add). Three event sets rotate; all of it lives here.
// Not thread-safe; one timer per trainer (no global state).
#pragma once
#include "backend/backend.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    APT_PHASE_DATA = 0,
    APT_PHASE_FORWARD,
    APT_PHASE_EXCHANGE,
    APT_PHASE_LOSS,
    APT_PHASE_BACKWARD,
    APT_PHASE_ALLREDUCE,
    APT_PHASE_OPTIM,
    APT_PHASE_COUNT
} AptPhase;

// The metrics.jsonl key ("t_data_s", "t_forward_s", ...: ends in _s like every timing field, so
// launch/rerun.sh and the bitwise tests leave it out) and the progress-line label ("data", "fwd", "xchg",
// "loss", "bwd", "ar", "opt").
const char *apt_phase_key(AptPhase p);
const char *apt_phase_label(AptPhase p);

// ---- the accumulator: plain arithmetic on stamps, no clock (unit-tested on its own)
typedef struct {
    double sum[APT_PHASE_COUNT]; // seconds since the last take
    long steps;                  // steps completed since the last take
} AptPhaseAcc;

// One step's stamps: t[0 .. n) in seconds (from any origin), phase[i] the phase of the span
// (t[i - 1], t[i]] for i >= 1 (phase[0] is unused). A negative span (clock noise) counts as 0.
void apt_phase_acc_stamps(AptPhaseAcc *a, int n, const double *t, const unsigned char *phase);
void apt_phase_acc_add(AptPhaseAcc *a, AptPhase p, double seconds);
// mean[p] = seconds per step of phase p since the last take (0 without steps); resets. Returns the steps.
long apt_phase_acc_take(AptPhaseAcc *a, double mean[APT_PHASE_COUNT]);
// The progress line's split, each phase as a percentage of wall_per_step (the interval's wall time per
// step) and "other" for the rest (evaluation, checkpoints, logging, the loop itself; never negative):
// "data 3% fwd 30% xchg 2% loss 5% bwd 50% ar 4% opt 6% other 0%". Returns what snprintf returns.
int apt_phase_format(char *out, size_t cap, const double mean[APT_PHASE_COUNT], double wall_per_step);

// ---- the step timer over a backend's timer ops
typedef struct {
    AptBackend *be;
    AptTimerSet set[3];   // step k stamps into set[k % 3]
    unsigned char *ph[3]; // [max_stamps] the phase of each stamp of set i
    int used[3];          // stamps recorded in set i and not read yet (0: nothing pending)
    long begun;           // steps begun
    AptPhaseAcc acc;
} AptStepTimer;

// max_stamps: the most stamps one step places (begin + marks); more is an internal error.
void apt_step_timer_init(AptStepTimer *st, AptBackend *be, int max_stamps);
void apt_step_timer_free(AptStepTimer *st);
// A step: begin (stamp 0), then mark(p) after each phase ("the span since the previous stamp was p"),
// then end. begin reads the stamps of the step two before (passed by the previous step's scalar read).
void apt_step_timer_begin(AptStepTimer *st);
void apt_step_timer_mark(AptStepTimer *st, AptPhase p);
void apt_step_timer_end(AptStepTimer *st);
// Host-measured time of a phase outside the stamps (the boundary fetch, before begin).
void apt_step_timer_add(AptStepTimer *st, AptPhase p, double seconds);
// At logging time: reads every pending stamp (waits for the newest on a device backend), then
// apt_phase_acc_take. Returns the steps covered.
long apt_step_timer_take(AptStepTimer *st, double mean[APT_PHASE_COUNT]);
