// nan_policy.c — train.on_nan: abort | skip, and train.max_nan_skips (nan_policy.h).
#include "nan_policy.h"

#include <math.h>
#include <stdio.h>

void apt_nan_policy_init(AptNanPolicy *p, const AptTrainConfig *cfg) {
    p->action = cfg->on_nan;
    p->max_skips = cfg->max_nan_skips;
    p->in_a_row = 0;
    p->skipped = 0;
}

void apt_nan_batch_info(AptNanBatchInfo *info, const AptBatch *bt) {
    info->epoch = bt->epoch;
    info->b = bt->b;
    for (int i = 0; i < bt->b && i < APT_NAN_IDS_SHOWN; i++)
        info->ids[i] = bt->ids[i];
}

bool apt_nan_policy_step(AptNanPolicy *p, double loss, int rank, long step, const AptNanBatchInfo *bt) {
    if (isfinite(loss)) {
        p->in_a_row = 0;
        return true;
    }
    if (p->action != APT_NAN_SKIP) return false;
    p->in_a_row++;
    p->skipped++;
    // One line per rank: its slice of the global batch, by global sample index (first 32 shown).
    char ids[600];
    size_t k = 0;
    int shown = bt->b < APT_NAN_IDS_SHOWN ? bt->b : APT_NAN_IDS_SHOWN;
    for (int i = 0; i < shown && k < sizeof ids - 24; i++)
        k += (size_t)snprintf(ids + k, sizeof ids - k, i ? ",%lld" : "%lld", (long long)bt->ids[i]);
    if (bt->b > shown) snprintf(ids + k, sizeof ids - k, ",... (%d samples)", bt->b);
    bool stop = p->in_a_row >= p->max_skips;
    fprintf(stderr,
            "aptrain: warning: step %ld (epoch %d): loss not finite on rank %d's batch [%s]; %s (%d in a row, %ld in "
            "all, train.max_nan_skips %d)\n",
            step + 1, bt->epoch, rank, ids, stop ? "stopping" : "skipped without an update", p->in_a_row,
            p->skipped, p->max_skips);
    fflush(stderr);
    return !stop;
}
