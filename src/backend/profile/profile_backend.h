// profile_backend.h — a per-op profile of training steps on any backend (train.profile_steps; the
// `--profile` of tests/bench/bench_resnet_cuda.c and bench_step.c).
//
// apt_backend_profile_create wraps an op table: every numeric op of backend.h's lists, and the memory
// traffic of a step (copy, upload, upload_wait), runs on the inner backend between two time stamps of the
// inner backend's own timer ops (cpu: host monotonic clock, exact since cpu ops are synchronous; cuda:
// events recorded on the compute stream, no host wait). The caller marks steps with step_begin/step_end:
//   - step 1 (the first marked) is not profiled (set-up and warm-up: first-touch allocations, oneDNN
//     primitive creation, cuDNN heuristics); it counts the op calls, and the stamps of the profiled steps
//     are created after it, between steps (never inside an op call);
//   - steps 2 .. steps + 1 are profiled; every later call passes through (one branch per op);
//   - stamps are read once, by apt_profile_collect (it waits for the last stamp on a device).
// Ops called outside a marked step (set-up, evaluation) pass through untimed, and so do the timer ops
// (the step timer of src/train/step_timer.c stamps through the same table) and alloc/free/sync.
// Step time is the span from the step's begin stamp to its end stamp on the same timeline (cpu: wall
// clock; cuda: the compute stream's time), so on cuda "ops cover X %" is the stream's busy share.
//
// The wrapper keeps the inner backend's name and act_layout (so apt_backend_is_host and name checks still
// hold), sets be->wrapped = inner (apt_backend_base reaches the real backend), and owns inner: destroying
// the wrapper destroys it. Results are the inner backend's, bit for bit (the same calls in the same
// order). Not thread-safe (neither is one model's use of a table).
#pragma once
#include "backend/backend.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

AptBackend *apt_backend_profile_create(AptBackend *inner, int steps);
// Mark a step of the training loop; be must be a profile backend. end without begin is an error.
void apt_profile_step_begin(AptBackend *be);
void apt_profile_step_end(AptBackend *be);
// Profiled steps completed so far (0 .. steps); true once all `steps` are done.
int apt_profile_steps_done(AptBackend *be);
bool apt_profile_complete(AptBackend *be);

// One row of the profile: means per profiled step.
typedef struct {
    const char *op;     // the op's name in backend.h ("conv2d_forward"), or copy / upload / upload_wait
    double calls;       // calls per step
    double seconds;     // time per step inside the op's stamps
    double flops;       // FLOPs per step (0: the op does not count them)
    double bytes;       // bytes moved per step (0: not counted; ops that count FLOPs count no bytes)
} AptProfileRow;

// Reads every pending stamp (the one wait) and aggregates; later calls return the same result. Fills
// *step_s (mean step time), returns the number of steps aggregated (a step whose op calls overflowed the
// stamps pre-created from step 1 is left out, and said so in the report).
int apt_profile_collect(AptBackend *be, double *step_s);
// After collect: the row of op `name` (false if it was not called in a profiled step).
bool apt_profile_row(AptBackend *be, const char *name, AptProfileRow *row);
// The table as Markdown (collects first): a title line, one row per op called (sorted by time per step:
// op, calls/step, ms/step, % of step, TFLOP/s, GB/s; "–" where the op counts neither), and a footer with
// the step time and "ops cover X% of the step". Returns malloc'd text, the caller frees it.
char *apt_profile_format(AptBackend *be, const char *title);

#ifdef __cplusplus
}
#endif
