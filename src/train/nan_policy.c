// nan_policy.c — train.on_nan: abort | skip, and train.max_nan_skips (nan_policy.h).
#include "nan_policy.h"

#include "core/check.h"
#include "core/log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void apt_nan_policy_init(AptNanPolicy *p, const AptTrainConfig *cfg) {
    p->action = cfg->on_nan;
    p->max_skips = cfg->max_nan_skips;
    p->in_a_row = 0;
    p->skipped = 0;
}

void apt_nan_batch_info(AptNanBatchInfo *info, const AptBatch *bt) {
    info->epoch = bt->epoch;
    info->b = bt->b;
    memset(info->ids, 0, sizeof info->ids); // all 32 travel in apt_nan_policy_stop's broadcast
    for (int i = 0; i < bt->b && i < APT_NAN_IDS_SHOWN; i++)
        info->ids[i] = bt->ids[i];
}

// "step 8 (epoch 0): loss nan, gradient norm inf: rank 1's loss part is not finite; rank 1's batch
// [12,40,...,... (16 samples)]": everything but the policy's tail. Rank `who`'s slice of the global batch,
// by global sample index (the first 32 shown).
static void describe(char *out, size_t cap, const AptNanDiag *d, long step, const AptNanBatchInfo *bt,
                     int who) {
    char ids[600];
    size_t k = 0;
    ids[0] = 0;
    int shown = bt->b < APT_NAN_IDS_SHOWN ? bt->b : APT_NAN_IDS_SHOWN;
    for (int i = 0; i < shown && k < sizeof ids - 24; i++)
        k += (size_t)snprintf(ids + k, sizeof ids - k, i ? ",%lld" : "%lld", (long long)bt->ids[i]);
    if (bt->b > shown) snprintf(ids + k, sizeof ids - k, ",... (%d samples)", bt->b);
    char part[96];
    if (d->bad_rank >= 0)
        snprintf(part, sizeof part, "rank %d's loss part is not finite", d->bad_rank);
    else
        snprintf(part, sizeof part, "every rank's loss part is finite, their sum or the gradient is not");
    snprintf(out, cap, "step %ld (epoch %d): loss %g, gradient norm %g: %s; rank %d's batch [%s]", step + 1,
             bt->epoch, d->loss, d->grad_norm, part, who, ids);
}

bool apt_nan_policy_step(AptNanPolicy *p, double loss, const AptNanDiag *d, int rank, long step,
                         const AptNanBatchInfo *bt) {
    if (isfinite(loss)) {
        p->in_a_row = 0;
        return true;
    }
    if (p->action != APT_NAN_SKIP) return false;
    p->in_a_row++;
    p->skipped++;
    if (p->in_a_row >= p->max_skips) return false; // apt_nan_policy_stop reports it
    // One line per rank (each names its own slice of the global batch); rank 0's also lands in log.txt.
    char what[1024];
    describe(what, sizeof what, d, step, bt, rank);
    apt_warn("%s; skipped without an update (%d in a row, %ld in all, train.max_nan_skips %d)", what,
             p->in_a_row, p->skipped, p->max_skips);
    return true;
}

_Noreturn void apt_nan_policy_stop(const AptNanPolicy *p, const AptNanDiag *d, AptComm *c, long step,
                                   const AptNanBatchInfo *bt) {
    AptComm *h = c->host ? c->host : c;
    // The message names the rank whose loss part failed, with that rank's batch: its first sample ids
    // go to rank 0, which reports. Every rank is here at the same step (the verdict is collective).
    int who = d->bad_rank >= 0 ? d->bad_rank : 0;
    AptNanBatchInfo named = *bt;
    if (h->world > 1) h->bcast(h, named.ids, APT_NAN_IDS_SHOWN, APT_I64, who);
    if (h->rank == 0) {
        char what[1024];
        describe(what, sizeof what, d, step, &named, who);
        if (p->action == APT_NAN_SKIP)
            apt_exit(APT_EXIT_NUMERIC, "%s; stopping (%d in a row, %ld in all, train.max_nan_skips %d)", what,
                     p->in_a_row, p->skipped, p->max_skips);
        apt_exit(APT_EXIT_NUMERIC, "%s; stopping, checkpoints untouched (train.on_nan abort)", what);
    }
    // Not apt_exit at once: its abort (MPI_Abort) could end rank 0 before rank 0 has written the line.
    // Rank 0's abort ends this process; a launcher that does not pass it on gets the same status here.
    for (int i = 0; i < 200; i++)
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    apt_exit(APT_EXIT_NUMERIC,
             "step %ld: stopping with rank 0, which reports the non-finite step (its abort did not end this "
             "rank within 10 s)",
             step + 1);
}
