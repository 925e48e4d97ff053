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
#include "loss/simix.h"
#include "nn/model.h"
#include "optim/optim.h"
#include "nan_policy.h"
#include "progress.h"
#include "step_timer.h"
#include "xbm.h"

struct AptTrainer {
    AptConfig cfg;
    AptTrainerOptions opts;
    AptComm *comm;         // host memory (MPI or self): control, host scalars, evaluation
    AptComm *dcomm;        // backend memory: E, dE, BN sums, gradients (comm itself on the cpu backend;
                           // NCCL, or comm staged through host scratch, otherwise)
    AptComm *gcomm;        // gradient buckets: a second NCCL communicator when dcomm is NCCL, so sync-BN
                           // sums and the E/dE exchange never queue behind bucket all-reduces; else dcomm
    AptBackend *be;
    AptBackend *prof;      // train.profile_steps on rank 0: the profiling wrapper (be itself), else NULL
    bool prof_written;     // its table has been written (profile.md)
    long prof_from;        // the step number (1-based, as on the progress line) of the first profiled step
    AptModel *model;
    AptParamStore *ps;     // the model's
    AptLoader *loader;     // train split, this rank's slices of the global plan
    AptLossParams loss_params;
    void *loss_ws;         // the backend's loss workspace (be->loss_create)
    AptXbm *xbm;           // loss.memory: the cross-batch memory (its ring is E's rows [B, B + N)); NULL: off
    AptSimix *simix;       // loss.simix: the virtual rows' plan and buffers (src/loss/simix.h); NULL: off
    AptOptim optim;
    AptBuckets *buckets;   // gradient all-reduce over the flat gradient buffer (world > 1)
    AptProgress progress;
    AptStepTimer timer;    // per-step phases (step_timer.h): stamped by step.c
    int B, b, D;           // global batch, local batch, embedding size
    int chunk;             // train.chunk when it splits the local batch (step.c's chunk loop), else 0
    int C, H, W;           // input sample shape
    float *E_local;        // [b, D]   backend memory, like everything numeric below
    float *E;              // [B + N, D]: the all-gathered batch [B, D], then the cross-batch memory's N rows
    float *dE;             // [B, D] partial gradient of this rank's loss part
    float *dE_local;       // [b, D] reduced
    double *scal;          // [APT_SCALAR_COUNT] loss part, gradient sum of squares, finite flag
    float *x[2];           // [b, C, H, W] batch upload targets: step k's batch goes to x[k & 1], so the
                           // upload of batch k + 1 (issued during step k) never writes what step k reads
    const AptBatch *batch; // the loader's batch of step `step`, already uploaded into x[step & 1] during
                           // the previous step (apt_train_step's `next`); NULL: not fetched yet
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
    AptNanDiag nan_diag;          // the last non-finite step (step.c), for nan_policy's messages
};

// step.c: one training step on batch bt with learning rate lr (DESIGN §1 chain; train.chunk is its inner
// loop). Returns the global loss; *grad_norm receives the global gradient norm (before clipping). A
// non-finite loss or gradient (the same verdict on every rank) returns NAN without updating the weights,
// its diagnosis in t->nan_diag. bt's upload into t->x[t->step & 1] was issued before the step (by the
// previous step, or apt_train_fetch_upload at the boundary); the step orders its ops behind it with
// be->upload_wait and reads bt only before it fetches from `next`.
// next: the loader to fetch batch step + 1 from once the step's kernels are enqueued and before its
// blocking scalar read (its upload into the other input buffer overlaps the step's compute; t->batch is
// set to it), or NULL (the last step, or the test option sync_upload: the trainer fetches at the next
// step boundary). The loader's position is not part of a checkpoint: a resumed run's loader starts at the
// checkpoint's step, so fetching a batch ahead that a pre-emption then leaves unused changes nothing.
double apt_train_step(AptTrainer *t, const AptBatch *bt, double lr, double *grad_norm, AptLoader *next);
// step.c: the batch pipeline (DESIGN §2 "Device residency"): ld's next batch (the one before it is
// released: loader.h), its upload issued into x[slot & 1]; the host copy is free again when upload returns.
const AptBatch *apt_train_fetch_upload(AptTrainer *t, AptLoader *ld, long slot);

// device_wait.c: waits until the device has run every op enqueued so far, polling NCCL's asynchronous
// errors (both communicators) and the watchdog's verdict meanwhile; an error or verdict ends the run with
// APT_EXIT_LOST through the abort path (ncclCommAbort, MPI_Abort). Returns at once on cpu/guard.
void apt_train_wait_device(AptTrainer *t);
