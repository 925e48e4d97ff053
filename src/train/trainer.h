// trainer.h — the training run of DESIGN §1/§5: set-up from an AptConfig, the epoch loop of steps,
// periodic evaluation, checkpoints, resume, pre-emption.
//
//   AptTrainer *t = apt_trainer_create(&cfg, comm, &opts);   // collective; resumes per cfg.resume
//   int rc = apt_trainer_run(t);                               // APT_EXIT_OK | APT_EXIT_REQUEUE
//   apt_trainer_destroy(t);
//
// Run directory (rank 0 writes): <out_dir>/<run_name>/{config.yaml, log.txt, metrics.jsonl, checkpoints/}.
// A NaN/Inf loss or gradient ends every rank with APT_EXIT_NUMERIC and one line from rank 0 through
// apt_exit (stderr and log.txt) naming the step, a rank whose loss part was not finite and that rank's
// sample ids; latest.h5 is left as it was (nan_policy.h; train.on_nan skip defers the stop).
#pragma once
#include "ckpt/checkpoint.h"
#include "config/config.h"
#include "dist/comm.h"
#include "nn/params.h"

#include <stdbool.h>

typedef struct {
    bool quiet;           // no progress lines (tests); metrics.jsonl is still written
    bool no_eval;         // skip evaluations (tests of the step loop)
    long preempt_at_step; // > 0: act as if SIGUSR1 arrived before this step (resume tests)
    bool sync_upload;     // fetch and upload each batch at its step boundary instead of during the previous
                          // step (tests: the prefetching order must give the same run bitwise)
} AptTrainerOptions;

typedef struct AptTrainer AptTrainer;

// Collective over comm (which the trainer does not own). opts may be NULL.
AptTrainer *apt_trainer_create(const AptConfig *cfg, AptComm *comm, const AptTrainerOptions *opts);
// Trains until the configured end. Returns APT_EXIT_OK, or APT_EXIT_REQUEUE after writing a checkpoint on
// a pre-emption signal. Exits the process with APT_EXIT_NUMERIC on a non-finite loss or gradient.
int apt_trainer_run(AptTrainer *t);
AptParamStore *apt_trainer_params(AptTrainer *t);
long apt_trainer_steps_done(const AptTrainer *t);
long apt_trainer_total_steps(const AptTrainer *t);
const char *apt_trainer_run_dir(const AptTrainer *t);
// Last evaluation's Recall@K (index into eval.recall_k); NAN before any evaluation.
double apt_trainer_last_recall(const AptTrainer *t, int i);
// The cross-batch memory (loss.memory) as a checkpoint would store it, copied to host memory owned by the
// trainer (valid until the next call or destroy); NULL when the run has none. Tests and tools only.
const AptCkptMemory *apt_trainer_memory(AptTrainer *t);
void apt_trainer_destroy(AptTrainer *t);

// `aptrain CONFIG.yaml [key=value ...]` (DESIGN §5); argv[0] is the config path. Initialises MPI (works
// without mpirun as a single process), runs, finalizes. Returns the exit status.
int apt_train_cmd(int argc, char **argv);
// `aptrain check CONFIG.yaml [key=value ...] [--world N]` (cmd_check.c); argv[0] is "check". One line per
// problem found; returns 0 (none) or APT_EXIT_USER.
int apt_check_cmd(int argc, char **argv);
// `aptrain export CHECKPOINT.h5 OUT.safetensors` (cmd_export.c): weights and BN statistics, torchvision names.
int apt_export_cmd(int argc, char **argv);
