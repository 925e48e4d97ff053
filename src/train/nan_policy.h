// nan_policy.h — what a training run does with a step whose loss or gradient is not finite
// (train.on_nan, train.max_nan_skips). step.c detects it (the same verdict on every rank, weights not
// updated) and returns NAN; trainer.c hands every step's result to apt_nan_policy_step.
//   abort: the run stops (APT_EXIT_NUMERIC), checkpoints untouched — the default;
//   skip:  the step counts as done without an update (its batch is consumed, the optimizer state is
//          unchanged); every rank logs one line with the step, its rank and its batch's sample ids; after
//          train.max_nan_skips skipped steps in a row the run stops as with abort.
// BatchNorm in `local`/`sync` mode updates its running statistics in the forward pass, so a non-finite
// batch can poison them: the following steps then fail too and max_nan_skips ends the run.
#pragma once
#include "config/config.h"
#include "data/loader.h"

#include <stdbool.h>
#include <stdint.h>

// What the skip message names of a step's batch, copied before the step: the step fetches the next batch
// during its compute (trainer_impl.h, apt_train_prefetch), after which the loader may reuse bt's memory.
#define APT_NAN_IDS_SHOWN 32
typedef struct {
    int epoch, b;
    int64_t ids[APT_NAN_IDS_SHOWN]; // the first min(b, 32) global sample indices of this rank's slice
} AptNanBatchInfo;
void apt_nan_batch_info(AptNanBatchInfo *info, const AptBatch *bt);

typedef struct {
    AptNanAction action;
    int max_skips;
    int in_a_row;     // consecutive skipped steps
    long skipped;     // skipped steps in this process's run
} AptNanPolicy;

void apt_nan_policy_init(AptNanPolicy *p, const AptTrainConfig *cfg);
// Called by every rank after every step with its result (NAN: not finite). step: the global step counter
// before the step (the message names step + 1, as the progress line does). Returns true to go on (a
// finite step, or one skipped under the policy), false when the run must stop with APT_EXIT_NUMERIC.
bool apt_nan_policy_step(AptNanPolicy *p, double loss, int rank, long step, const AptNanBatchInfo *bt);
