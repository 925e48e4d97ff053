// sampler.c — the two global plans of sampler.h, from the counter-based RNG (core/rng.h).
//
// RNG streams (seed, purpose, epoch, step, sample):
//   epoch mode:  class k's sample order   (seed, SAMPLER_ITEM,  epoch, 0, k)
//                class order              (seed, SAMPLER_CLASS, epoch, 0, 0)
//                batch order              (seed, SAMPLER_CLASS, epoch, 1, 0)
//   random mode: batch's class draw       (seed, SAMPLER_CLASS, epoch, step, 0)
//                samples of class slot j  (seed, SAMPLER_ITEM,  epoch, step, j)
#include "data/sampler.h"

#include "core/check.h"
#include "core/log.h"
#include "core/rng.h"

#include <stdlib.h>
#include <string.h>

struct AptSampler {
    int64_t N;
    int K, C, m, B;
    AptSamplerMode mode;
    uint64_t seed;
    int64_t *class_start; // [K + 1] CSR: members of class k are by_class[class_start[k] .. class_start[k+1])
    int64_t *by_class;    // [N] sample indices grouped by class, ascending inside a class
    int eligible;         // classes usable by the mode (>= m samples in epoch mode, >= 1 in random mode)
    int skipped;
    // epoch mode: cached plan of plan_epoch (-1 = none)
    int plan_epoch, plan_batches;
    int64_t *plan;   // [max_batches * B]
    int64_t *work;   // [N] shuffled members, same CSR layout as by_class
    int *order;      // [K] class order, then the classes with >= m samples in that order
    int *win;        // [C] the first C classes that still have m unused samples
    int64_t *used;   // [K] samples consumed per class
    int *batch_perm; // [max_batches]
    // random mode scratch
    uint8_t *mark; // [K]
    int *pick;     // [C]
    int *nonempty; // [eligible] class ids with >= 1 sample
};

AptSampler *apt_sampler_create(const int32_t *labels, int64_t N, int K, int C, int m, AptSamplerMode mode,
                               uint64_t seed, const char *what) {
    if (C < 1 || m < 1)
        apt_user_error("%s: sampler needs classes per batch >= 1 and m >= 1 (got C=%d, m=%d)", what, C, m);
    AptSampler *s = apt_calloc(1, sizeof *s);
    s->N = N;
    s->K = K;
    s->C = C;
    s->m = m;
    s->B = C * m;
    s->mode = mode;
    s->seed = seed;
    s->plan_epoch = -1;
    s->class_start = apt_calloc((size_t)K + 1, sizeof(int64_t));
    s->by_class = apt_malloc((size_t)(N ? N : 1) * sizeof(int64_t));
    for (int64_t i = 0; i < N; i++) {
        APT_CHECK(labels[i] >= 0 && labels[i] < K, "label %d of sample %lld outside [0, %d)", labels[i],
                  (long long)i, K);
        s->class_start[labels[i] + 1]++;
    }
    for (int k = 0; k < K; k++)
        s->class_start[k + 1] += s->class_start[k];
    int64_t *fill = apt_malloc((size_t)K * sizeof(int64_t));
    memcpy(fill, s->class_start, (size_t)K * sizeof(int64_t));
    for (int64_t i = 0; i < N; i++)
        s->by_class[fill[labels[i]]++] = i;
    free(fill);

    int ge_m = 0, nonempty = 0;
    for (int k = 0; k < K; k++) {
        int64_t n = s->class_start[k + 1] - s->class_start[k];
        ge_m += n >= m;
        nonempty += n >= 1;
    }
    if (mode == APT_SAMPLER_EPOCH) {
        s->eligible = ge_m;
        s->skipped = K - ge_m;
        if (ge_m < C)
            apt_user_error(
                "%s: epoch sampler: a batch needs C=%d distinct classes (batch size / m) with >= m=%d "
                "samples each, but only %d of %d classes qualify",
                what, C, m, ge_m, K);
        if (s->skipped)
            apt_warn("%s: %d of %d classes have fewer than m=%d samples and are never sampled (epoch mode)",
                     what, s->skipped, K, m);
        int64_t max_batches = N / s->B + 1;
        s->plan = apt_malloc((size_t)max_batches * s->B * sizeof(int64_t));
        s->work = apt_malloc((size_t)(N ? N : 1) * sizeof(int64_t));
        s->order = apt_malloc((size_t)K * sizeof(int));
        s->used = apt_malloc((size_t)K * sizeof(int64_t));
        s->batch_perm = apt_malloc((size_t)max_batches * sizeof(int));
        s->win = apt_malloc((size_t)C * sizeof(int));
    } else {
        s->eligible = nonempty;
        s->skipped = 0;
        if (nonempty < C)
            apt_user_error(
                "%s: random sampler: only %d non-empty classes, a batch needs C=%d distinct classes", what,
                nonempty, C);
        if (N < s->B)
            apt_user_error("%s: %lld samples, fewer than one batch of B=%d", what, (long long)N, s->B);
        s->mark = apt_calloc((size_t)K, 1);
        s->pick = apt_malloc((size_t)C * sizeof(int));
        s->nonempty = apt_malloc((size_t)nonempty * sizeof(int));
        for (int k = 0, j = 0; k < K; k++)
            if (s->class_start[k + 1] > s->class_start[k]) s->nonempty[j++] = k;
    }
    return s;
}

void apt_sampler_destroy(AptSampler *s) {
    if (!s) return;
    free(s->class_start);
    free(s->by_class);
    free(s->plan);
    free(s->work);
    free(s->order);
    free(s->used);
    free(s->batch_perm);
    free(s->win);
    free(s->mark);
    free(s->pick);
    free(s->nonempty);
    free(s);
}

int apt_sampler_batch_size(const AptSampler *s) {
    return s->B;
}
int apt_sampler_skipped_classes(const AptSampler *s) {
    return s->skipped;
}

static void shuffle_i64(AptRngStream *r, int64_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)apt_rng_next_below(r, (uint32_t)(i + 1));
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

// The batch-forming loop of the Smooth-AP reshuffle() for `epoch`: classes in shuffled order, each batch
// = the first C classes that still have >= m unused samples. Those are a window: the surviving window
// classes (in order) followed by the next untouched classes of the order, so each batch costs O(C), not
// a rescan of all K classes. With plan != NULL the samples are written (s->work holds each class's
// shuffled members); without, only the number of batches is computed (no sample shuffles: O(K + nb*C)).
static int form_batches(AptSampler *s, int epoch, int64_t *plan) {
    const int K = s->K, C = s->C, m = s->m;
    for (int k = 0; k < K; k++)
        s->order[k] = k;
    AptRngStream rc = apt_rng_stream(s->seed, APT_RNG_SAMPLER_CLASS, (uint32_t)epoch, 0, 0);
    apt_rng_shuffle_int(&rc, s->order, K);
    int eligible = 0; // classes with >= m samples, in shuffled order
    for (int k = 0; k < K; k++) {
        int c = s->order[k];
        if (s->class_start[c + 1] - s->class_start[c] >= m) s->order[eligible++] = c;
    }
    memset(s->used, 0, (size_t)K * sizeof(int64_t));
    int nw = 0, next = 0, nb = 0;
    for (;;) {
        while (nw < C && next < eligible)
            s->win[nw++] = s->order[next++];
        if (nw < C) break; // fewer than C classes have m samples left: the epoch ends
        for (int j = 0; j < C; j++) {
            int c = s->win[j];
            if (plan)
                memcpy(plan + (size_t)nb * s->B + (size_t)j * m, s->work + s->class_start[c] + s->used[c],
                       (size_t)m * sizeof(int64_t));
            s->used[c] += m;
        }
        nb++;
        int w = 0;
        for (int j = 0; j < C; j++) {
            int c = s->win[j];
            if (s->class_start[c + 1] - s->class_start[c] - s->used[c] >= m) s->win[w++] = c;
        }
        nw = w;
    }
    return nb;
}

// Build the epoch-mode plan of `epoch` into s->plan (the Smooth-AP reshuffle(), see sampler.h).
static void plan_epoch(AptSampler *s, int epoch) {
    if (s->plan_epoch == epoch) return;
    const int K = s->K, B = s->B;
    memcpy(s->work, s->by_class, (size_t)s->N * sizeof(int64_t));
    for (int k = 0; k < K; k++) {
        AptRngStream r = apt_rng_stream(s->seed, APT_RNG_SAMPLER_ITEM, (uint32_t)epoch, 0, (uint32_t)k);
        shuffle_i64(&r, s->work + s->class_start[k], s->class_start[k + 1] - s->class_start[k]);
    }
    int nb = form_batches(s, epoch, s->plan);
    APT_CHECK(nb >= 1, "empty epoch plan despite %d eligible classes", s->eligible);
    // Shuffle the batch order, then lay the plan out in that order.
    for (int i = 0; i < nb; i++)
        s->batch_perm[i] = i;
    AptRngStream rb = apt_rng_stream(s->seed, APT_RNG_SAMPLER_CLASS, (uint32_t)epoch, 1, 0);
    apt_rng_shuffle_int(&rb, s->batch_perm, nb);
    // Permute via work (N >= nb*B entries; the members are no longer needed).
    for (int i = 0; i < nb; i++)
        memcpy(s->work + (size_t)i * B, s->plan + (size_t)s->batch_perm[i] * B, (size_t)B * sizeof(int64_t));
    memcpy(s->plan, s->work, (size_t)nb * B * sizeof(int64_t));
    s->plan_batches = nb;
    s->plan_epoch = epoch;
}

int apt_sampler_batches_per_epoch(AptSampler *s, int epoch) {
    if (s->mode == APT_SAMPLER_RANDOM) return (int)(s->N / s->B);
    if (s->plan_epoch == epoch) return s->plan_batches;
    return form_batches(s, epoch, NULL); // the count needs only the class order: the cached plan stays
}

static void random_batch(AptSampler *s, int epoch, int step, int64_t *out) {
    const int C = s->C, m = s->m, E = s->eligible;
    // Floyd's algorithm: C distinct classes among the E non-empty ones, then a shuffle of their order
    // (Floyd's output order is not uniform).
    AptRngStream rc = apt_rng_stream(s->seed, APT_RNG_SAMPLER_CLASS, (uint32_t)epoch, (uint32_t)step, 0);
    int n = 0;
    for (int j = E - C; j < E; j++) {
        int t = (int)apt_rng_next_below(&rc, (uint32_t)(j + 1));
        if (s->mark[t]) t = j;
        s->mark[t] = 1;
        s->pick[n++] = t;
    }
    for (int j = 0; j < C; j++)
        s->mark[s->pick[j]] = 0;
    apt_rng_shuffle_int(&rc, s->pick, C);
    for (int j = 0; j < C; j++) {
        int c = s->nonempty[s->pick[j]];
        const int64_t *mem = s->by_class + s->class_start[c];
        int64_t n_c = s->class_start[c + 1] - s->class_start[c];
        AptRngStream ri =
            apt_rng_stream(s->seed, APT_RNG_SAMPLER_ITEM, (uint32_t)epoch, (uint32_t)step, (uint32_t)j);
        int64_t *dst = out + (size_t)j * m;
        if (n_c >= m) { // m distinct members: rejection against the ones already taken (m is small)
            for (int t = 0; t < m; t++) {
                for (;;) {
                    int64_t cand = mem[apt_rng_next_below(&ri, (uint32_t)n_c)];
                    int dup = 0;
                    for (int u = 0; u < t; u++)
                        dup |= dst[u] == cand;
                    if (!dup) {
                        dst[t] = cand;
                        break;
                    }
                }
            }
        } else {
            for (int t = 0; t < m; t++)
                dst[t] = mem[apt_rng_next_below(&ri, (uint32_t)n_c)];
        }
    }
}

void apt_sampler_batch(AptSampler *s, int epoch, int step, int64_t *out) {
    APT_CHECK(epoch >= 0 && step >= 0, "negative epoch %d or step %d", epoch, step);
    if (s->mode == APT_SAMPLER_RANDOM) {
        APT_CHECK(step < apt_sampler_batches_per_epoch(s, epoch), "step %d past the epoch", step);
        random_batch(s, epoch, step, out);
        return;
    }
    plan_epoch(s, epoch);
    APT_CHECK(step < s->plan_batches, "step %d past the epoch's %d batches", step, s->plan_batches);
    memcpy(out, s->plan + (size_t)step * s->B, (size_t)s->B * sizeof(int64_t));
}

int apt_sampler_local_size(int B, int world) {
    APT_CHECK(world >= 1 && B % world == 0, "world size %d does not divide the global batch %d", world, B);
    return B / world;
}

int apt_sampler_local_begin(int B, int world, int rank) {
    APT_CHECK(rank >= 0 && rank < world, "rank %d outside world %d", rank, world);
    return rank * apt_sampler_local_size(B, world);
}
