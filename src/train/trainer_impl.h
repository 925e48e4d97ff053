// trainer_impl.h — the trainer's state, shared by trainer.c (set-up, loop, periodic evaluation through
// src/eval/eval.h) and step.c (one step). Internal to src/train/.
#pragma once
#include "trainer.h"

#include "backend/backend.h"
#include "data/loader.h"
#include "dist/buckets.h"
#include "eval/eval.h"
#include "eval/metrics.h"
#include "loss/loss.h"
#include "nn/model.h"
#include "optim/optim.h"
#include "nan_policy.h"
#include "progress.h"

struct AptTrainer {
    AptConfig cfg;
    AptTrainerOptions opts;
    AptComm *comm;
    AptBackend *be;
    AptModel *model;
    AptParamStore *ps;     // the model's
    AptLoader *loader;     // train split, this rank's slices of the global plan
    AptLossParams loss_params;
    AptLossWorkspace *loss_ws;
    AptOptim optim;
    AptBuckets *buckets;   // gradient all-reduce over the flat gradient buffer (world > 1)
    AptProgress progress;
    int B, b, D;           // global batch, local batch, embedding size
    int C, H, W;           // input sample shape
    float *E_local;        // [b, D]
    float *E;              // [B, D] all-gathered
    float *dE;             // [B, D] partial gradient of this rank's loss part
    float *dE_local;       // [b, D] reduced
    long step;             // optimizer steps completed
    int epoch;             // epoch of the next step
    long step_in_epoch;    // steps of `epoch` completed
    long total_steps;
    int n_epochs;          // epochs covered by total_steps
    long *epoch_end;       // [n_epochs] cumulative steps at the end of each epoch
    char run_dir[4096], ckpt_dir[4096];
    char *config_text;     // resolved config (rank 0), stored in checkpoints
    FILE *log_file;        // run_dir/log.txt (rank 0)
    AptEvalContext *eval;  // src/eval/: test-split embedding, exact kNN metrics, leaderboard (NULL: no_eval)
    double last_recall[APT_LIST_MAX];
    bool evaluated;
    struct AptWatchdog *watchdog; // watchdog.h: step deadline + peer heartbeats (NULL: off)
    AptNanPolicy nan;             // train.on_nan / max_nan_skips (nan_policy.h)
};

// step.c: one training step on batch bt with learning rate lr (DESIGN §1 chain). Returns the global loss;
// *grad_norm receives the global gradient norm (before clipping). A non-finite loss or gradient (the same
// verdict on every rank) is reported by rank 0 and returns NAN without updating the weights.
double apt_train_step(AptTrainer *t, const AptBatch *bt, double lr, double *grad_norm);
