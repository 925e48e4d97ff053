// leaderboard.h — published results (configs/published.yaml) and the run directory's leaderboard
// (leaderboard.md for people, leaderboard.json for scripts), written by rank 0 atomically.
#pragma once
#include "eval/metrics.h"

#include <stdbool.h>

#define APT_PUB_MAX_RESULTS 16
#define APT_PUB_MAX_VALUES 16

typedef struct {
    char name[16]; // metric name as printed: "R@1", "mAP", "mAP@R"
    double value;  // percent
    bool known;    // false: null in the file (exists in the literature, not recorded)
} AptPubValue;

typedef struct {
    char method[128], backbone[128], source[512], note[512];
    int n_values;
    AptPubValue values[APT_PUB_MAX_VALUES];
} AptPubResult;

typedef struct {
    char protocol[64];
    char description[1024], note[1024];
    int n_metrics;
    char metrics[APT_PUB_MAX_VALUES][16]; // the protocol's published metric list
    int n_results;
    AptPubResult results[APT_PUB_MAX_RESULTS];
} AptPublished;

// Read protocols.<protocol> from path. Returns 0 when found, 1 when the file has no such protocol (out
// is then empty but for protocol). A malformed file is a user error naming file:line:col.
int apt_published_load(const char *path, const char *protocol, AptPublished *out);

typedef struct {
    const char *protocol;   // eval.protocol
    const char *dataset;    // data.root
    const char *split;      // data.test_split
    const char *checkpoint; // "" when evaluating the live model
    int64_t step;           // training step of the weights
    int world;              // ranks that computed it
    const AptMetrics *m;
    const AptPublished *pub; // may be NULL (no published file / protocol)
    // Our row's own identity (NULL or "": left blank): the loss trained (loss.name), the backbone
    // (model.arch), and eval.borrowed — settings taken from another method's paper (e.g. a ViT recipe),
    // printed as such so that the row is never read as that paper's published result.
    const char *method, *backbone, *borrowed;
} AptLeaderboard;

// Write run_dir/leaderboard.md and run_dir/leaderboard.json (temp name + fsync + rename each).
// Returns 0 on success. Call on rank 0 only.
int apt_leaderboard_write(const char *run_dir, const AptLeaderboard *lb);
