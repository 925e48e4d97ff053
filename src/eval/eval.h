// eval.h — the evaluation entry points (DESIGN §6): distributed embedding of a split, exact retrieval
// metrics, rank 0's leaderboard and optional HDF5 outputs.
//
// Periodic evaluation from the trainer:
//   AptEvalContext *ev = apt_eval_create(cfg, comm, run_dir, b_max);    // set-up (loads published.yaml)
//   ...
//   AptEvalResult r;
//   apt_eval_run(ev, model, step, NULL, &r);                            // collective over comm
//   apt_progress_eval(&progress, epoch, step, r.n, r.names, r.values);  // metrics.jsonl line
//   ...
//   apt_eval_destroy(ev);
// `aptrain eval CONFIG.yaml --checkpoint FILE` (cmd_eval.c) does the same once, for a checkpoint.
#pragma once
#include "config/config.h"
#include "data/loader.h"
#include "dist/comm.h"
#include "eval/metrics.h"
#include "nn/model.h"

// A split's embeddings in global sample order, identical on every rank.
typedef struct {
    int64_t N;
    int D;
    float *E;        // [N, D] float32, L2-normalised by the model head
    int32_t *labels; // [N]
    int64_t *ids;    // [N] global sample ids (= 0 .. N-1: the split in order)
} AptEmbeddings;

// Each rank embeds its contiguous share (apt_loader_eval_range) of lo's split in eval mode (no
// augmentation; lo->mode, rank and world are set from c) with apt_model_forward(..., train = false), in
// forward batches of at most fwd_max (the model's b_max); the shares are all-gathered in rank order =
// global order. Collective over c.
void apt_eval_embed(AptComm *c, AptModel *model, int fwd_max, const AptLoaderOptions *lo, AptEmbeddings *out);
void apt_embeddings_free(AptEmbeddings *e);

#define APT_EVAL_MAX_VALUES (APT_METRICS_MAX_K + 2)

typedef struct {
    AptMetrics m;         // identical on every rank
    double seconds_embed; // wall time of extraction + all-gather
    double seconds_score; // wall time of scoring + metrics
    // the figures as named values for metrics.jsonl: "recall@K" ..., "map", "map@r" (fractions in [0, 1])
    int n;
    const char *names[APT_EVAL_MAX_VALUES];
    double values[APT_EVAL_MAX_VALUES];
    char name_buf[APT_EVAL_MAX_VALUES][16];
} AptEvalResult;

typedef struct AptEvalContext AptEvalContext;

// cfg: data.* (test split, loader), eval.* (recall_k, block, protocol, published, save_*), copied.
// run_dir: where rank 0 writes leaderboard.md/.json, embeddings_<split>.h5, per_query_<split>.h5.
// fwd_max: the largest batch the model's forward accepts (its b_max). The published-results file is
// read here on rank 0 (a malformed file is a user error now, not after an hour of training): eval.published,
// or "" = configs/published.yaml in the working directory or beside the executable's parent directory.
AptEvalContext *apt_eval_create(const AptConfig *cfg, AptComm *comm, const char *run_dir, int fwd_max);

// Embed the test split, score it, compute the metrics (returned on every rank) and, on rank 0, write the
// leaderboard (and the HDF5 outputs when eval.save_embeddings / eval.save_per_query). step and checkpoint
// (NULL = the live model) are provenance for the leaderboard. Collective over the context's comm.
// r->names point into r itself: do not copy the struct and use the copy's names.
void apt_eval_run(AptEvalContext *ctx, AptModel *model, int64_t step, const char *checkpoint,
                  AptEvalResult *r);
void apt_eval_destroy(AptEvalContext *ctx);

// `aptrain eval CONFIG.yaml --checkpoint FILE [key=value ...]`; argv[0] = "eval". Returns the exit status.
int apt_eval_cmd(int argc, char **argv);
