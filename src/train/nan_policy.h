// nan_policy.h — what a training run does with a step whose loss or gradient is not finite
// (train.on_nan, train.max_nan_skips). step.c detects it (the same verdict on every rank, weights not
// updated), fills an AptNanDiag and returns NAN; trainer.c hands every step's result to
// apt_nan_policy_step, and when that says stop, to apt_nan_policy_stop.
//   abort: the run stops (APT_EXIT_NUMERIC), checkpoints untouched — the default;
//   skip:  the step counts as done without an update (its batch is consumed, the optimizer state is
//          unchanged); every rank logs one warning line with the step, its rank and its batch's sample ids;
//          after train.max_nan_skips skipped steps in a row the run stops as with abort.
// A stop is one line, printed by rank 0 through the error idiom (core/check.h apt_exit): stderr, the run's
// log.txt, and the abort hook, which takes every rank down (ncclCommAbort, MPI_Abort).
// BatchNorm in `local`/`sync` mode updates its running statistics in the forward pass, so a non-finite
// batch can poison them: the following steps then fail too and max_nan_skips ends the run.
#pragma once
#include "config/config.h"
#include "data/loader.h"
#include "dist/comm.h"

#include <stdbool.h>
#include <stdint.h>

// What the messages name of a step's batch, copied before the step: the step fetches the next batch
// during its compute (step.c: the step fetches from the loader it is given), after which the loader may reuse bt's memory.
#define APT_NAN_IDS_SHOWN 32
typedef struct {
    int epoch, b;
    int64_t ids[APT_NAN_IDS_SHOWN]; // the first min(b, 32) global sample indices of this rank's slice
} AptNanBatchInfo;
void apt_nan_batch_info(AptNanBatchInfo *info, const AptBatch *bt);

// A non-finite step as step.c saw it; identical on every rank.
typedef struct {
    double loss;      // the global loss (sum of the ranks' parts)
    double grad_norm; // the global gradient norm
    int bad_rank;     // the highest rank whose own loss part is not finite; -1: every part is finite
} AptNanDiag;

typedef struct {
    AptNanAction action;
    int max_skips;
    int in_a_row;     // consecutive skipped steps
    long skipped;     // skipped steps in this process's run
} AptNanPolicy;

void apt_nan_policy_init(AptNanPolicy *p, const AptTrainConfig *cfg);
// Called by every rank after every step with its result (NAN: not finite; d: step.c's diagnosis then).
// step: the global step counter before the step (messages name step + 1, as the progress line does).
// Returns true to go on (a finite step, or one skipped under the policy: the warning is logged here),
// false when the run must stop: then call apt_nan_policy_stop.
bool apt_nan_policy_step(AptNanPolicy *p, double loss, const AptNanDiag *d, int rank, long step,
                         const AptNanBatchInfo *bt);
// The stop, on every rank (collective over c's host communicator: the named rank's sample ids go to rank
// 0). Rank 0 ends the run through apt_exit(APT_EXIT_NUMERIC) with one line naming the step, the rank whose
// loss part is not finite (or that none is), that rank's batch and the policy. The other ranks print
// nothing and wait for that abort to end them (if it has not within 10 s, they end themselves the same
// way). Call it with the loader destroyed and the watchdog stopped.
_Noreturn void apt_nan_policy_stop(const AptNanPolicy *p, const AptNanDiag *d, AptComm *c, long step,
                                   const AptNanBatchInfo *bt);
