// test_sampler.c — the global class-balanced plan (sampler.h).
//  epoch mode: equals a literal transcription of the Smooth-AP reshuffle() loop (rescans the class list
//  each pass) fed with the same RNG streams; determinism in (seed, epoch); exact balance (C distinct
//  classes x m); no sample twice in an epoch; the epoch ends only when fewer than C classes have m left;
//  classes with < m samples never appear and are counted.
//  random mode: determinism, balance, distinct samples when a class has >= m, replacement otherwise,
//  floor(N / B) batches.
//  rank slices: the W slices of every batch, concatenated, are the batch, for W = 1, 2, 4.
#include "core/rng.h"
#include "data/sampler.h"
#include "harness.h"

#include <string.h>

#define K 13
static const int sizes[K] = {25, 1, 9, 2, 14, 3, 30, 5, 6, 11, 4, 17, 8}; // classes 1 and 3 have < m = 3

// Reference: python's reshuffle() from the Smooth-AP code, same streams as sampler.c.
static int ref_plan(const int32_t *labels, int N, int C, int m, uint64_t seed, int epoch, int64_t *out) {
    static int64_t lists[K][64];
    int len[K] = {0}, head[K] = {0};
    for (int i = 0; i < N; i++)
        lists[labels[i]][len[labels[i]]++] = i;
    for (int k = 0; k < K; k++) { // shuffle each class (Fisher-Yates on int64 like the sampler)
        AptRngStream r = apt_rng_stream(seed, APT_RNG_SAMPLER_ITEM, (uint32_t)epoch, 0, (uint32_t)k);
        for (int i = len[k] - 1; i > 0; i--) {
            int j = (int)apt_rng_next_below(&r, (uint32_t)(i + 1));
            int64_t t = lists[k][i];
            lists[k][i] = lists[k][j];
            lists[k][j] = t;
        }
    }
    int classes[K];
    for (int k = 0; k < K; k++)
        classes[k] = k;
    AptRngStream rc = apt_rng_stream(seed, APT_RNG_SAMPLER_CLASS, (uint32_t)epoch, 0, 0);
    apt_rng_shuffle_int(&rc, classes, K);
    static int64_t batches[256][64];
    int nb = 0, finished = 0;
    while (!finished) {
        int nbatch = 0; // classes in the batch being built
        for (int t = 0; t < K; t++) {
            int c = classes[t];
            if (len[c] - head[c] >= m && nbatch < C) {
                for (int j = 0; j < m; j++)
                    batches[nb][nbatch * m + j] = lists[c][head[c] + j];
                head[c] += m;
                nbatch++;
            }
        }
        if (nbatch == C)
            nb++;
        else
            finished = 1;
    }
    int perm[256];
    for (int i = 0; i < nb; i++)
        perm[i] = i;
    AptRngStream rb = apt_rng_stream(seed, APT_RNG_SAMPLER_CLASS, (uint32_t)epoch, 1, 0);
    apt_rng_shuffle_int(&rb, perm, nb);
    for (int i = 0; i < nb; i++)
        memcpy(out + (size_t)i * C * m, batches[perm[i]], (size_t)C * m * sizeof(int64_t));
    return nb;
}

int main(void) {
    int32_t labels[256];
    int N = 0;
    for (int k = 0; k < K; k++) // interleave classes so indices are not sorted by class
        for (int j = 0; j < sizes[k]; j++)
            labels[N++] = k;
    for (int i = N - 1; i > 0; i--) { // fixed permutation of the labels
        int j = (i * 37 + 11) % (i + 1);
        int32_t t = labels[i];
        labels[i] = labels[j];
        labels[j] = t;
    }
    const int C = 4, m = 3, B = C * m;
    const uint64_t seed = 42;

    // ---- epoch mode ----
    AptSampler *s = apt_sampler_create(labels, N, K, C, m, APT_SAMPLER_EPOCH, seed, "test");
    AptSampler *s2 = apt_sampler_create(labels, N, K, C, m, APT_SAMPLER_EPOCH, seed, "test");
    AptSampler *s3 = apt_sampler_create(labels, N, K, C, m, APT_SAMPLER_EPOCH, seed + 1, "test");
    TEST_CHECK(apt_sampler_skipped_classes(s) == 2, "skipped %d, want 2 (classes of size 1 and 2)",
               apt_sampler_skipped_classes(s));
    int64_t batch[64], other[64], ref[256 * 64];
    for (int epoch = 0; epoch < 4; epoch++) {
        int nb = apt_sampler_batches_per_epoch(s, epoch);
        int nref = ref_plan(labels, N, C, m, seed, epoch, ref);
        TEST_CHECK(nb == nref && nb > 0, "epoch %d: %d batches, reference %d", epoch, nb, nref);
        int seen[256] = {0}, used[K] = {0}, same_as_ref = 1, same_as_twin = 1, balanced = 1, reused = 0;
        for (int step = 0; step < nb; step++) {
            apt_sampler_batch(s, epoch, step, batch);
            apt_sampler_batch(s2, epoch, step, other);
            same_as_twin &= !memcmp(batch, other, sizeof(int64_t) * B);
            same_as_ref &= !memcmp(batch, ref + (size_t)step * B, sizeof(int64_t) * B);
            int cls[8];
            for (int j = 0; j < C; j++) {
                cls[j] = labels[batch[j * m]];
                for (int t = 0; t < m; t++)
                    balanced &= labels[batch[j * m + t]] == cls[j];
                for (int u = 0; u < j; u++)
                    balanced &= cls[u] != cls[j];
                balanced &= sizes[cls[j]] >= m;
            }
            for (int j = 0; j < B; j++) {
                reused += seen[batch[j]]++ > 0;
                used[labels[batch[j]]]++;
            }
        }
        TEST_CHECK(same_as_ref, "epoch %d: plan differs from the reference reshuffle()", epoch);
        TEST_CHECK(same_as_twin, "epoch %d: two samplers with one seed disagree", epoch);
        TEST_CHECK(balanced, "epoch %d: a batch is not C distinct classes x m", epoch);
        TEST_CHECK(reused == 0, "epoch %d: %d samples reused within the epoch", epoch, reused);
        int left = 0;
        for (int k = 0; k < K; k++)
            left += sizes[k] - used[k] >= m;
        TEST_CHECK(left < C, "epoch %d ended with %d classes still having m samples", epoch, left);
    }
    // Different epoch / seed -> different plan (first batches of the epochs compared as a whole).
    apt_sampler_batch(s, 0, 0, batch);
    apt_sampler_batch(s, 1, 0, other);
    TEST_CHECK(memcmp(batch, other, sizeof(int64_t) * B) != 0, "epoch 0 and 1 start with the same batch");
    apt_sampler_batch(s3, 0, 0, other);
    TEST_CHECK(memcmp(batch, other, sizeof(int64_t) * B) != 0, "seeds 42 and 43 give the same batch");
    // Random access order does not matter: epoch 2 step 3 after visiting epoch 0 equals a fresh sampler's.
    apt_sampler_batch(s, 2, 3, batch);
    AptSampler *fresh = apt_sampler_create(labels, N, K, C, m, APT_SAMPLER_EPOCH, seed, "test");
    apt_sampler_batch(fresh, 2, 3, other);
    TEST_CHECK(!memcmp(batch, other, sizeof(int64_t) * B), "batch depends on call history");
    apt_sampler_destroy(fresh);
    // Batches per epoch without building the plan (class order only) == the built plan's count.
    int counts_ok = 1;
    AptSampler *cnt = apt_sampler_create(labels, N, K, C, m, APT_SAMPLER_EPOCH, seed, "test");
    for (int epoch = 0; epoch < 50; epoch++) {
        int counted = apt_sampler_batches_per_epoch(cnt, epoch); // never builds a plan
        apt_sampler_batch(s2, epoch, 0, batch);                  // builds and caches epoch's plan
        counts_ok &= counted == apt_sampler_batches_per_epoch(s2, epoch) &&
                     counted == ref_plan(labels, N, C, m, seed, epoch, ref);
    }
    apt_sampler_destroy(cnt);
    TEST_CHECK(counts_ok, "batches per epoch from the class order differ from the built plans");

    // ---- rank slices ----
    for (int W = 1; W <= 4; W *= 2) {
        int b = apt_sampler_local_size(B, W), ok = 1;
        apt_sampler_batch(s, 1, 2, batch);
        int64_t cat[64];
        for (int r = 0; r < W; r++) {
            int begin = apt_sampler_local_begin(B, W, r);
            ok &= begin == r * b;
            memcpy(cat + r * b, batch + begin, sizeof(int64_t) * b); // what rank r takes
        }
        TEST_CHECK(ok && b * W == B && !memcmp(cat, batch, sizeof(int64_t) * B),
                   "W=%d: slices do not tile the batch", W);
    }
    apt_sampler_destroy(s);
    apt_sampler_destroy(s2);
    apt_sampler_destroy(s3);

    // ---- random mode ----
    AptSampler *r = apt_sampler_create(labels, N, K, C, m, APT_SAMPLER_RANDOM, seed, "test");
    AptSampler *r2 = apt_sampler_create(labels, N, K, C, m, APT_SAMPLER_RANDOM, seed, "test");
    TEST_CHECK(apt_sampler_batches_per_epoch(r, 0) == N / B, "random: %d batches, want %d",
               apt_sampler_batches_per_epoch(r, 0), N / B);
    int same = 1, balanced = 1, distinct = 1, small_seen = 0, class_hits[K] = {0};
    for (int epoch = 0; epoch < 20; epoch++) {
        for (int step = 0; step < N / B; step++) {
            apt_sampler_batch(r, epoch, step, batch);
            apt_sampler_batch(r2, epoch, step, other);
            same &= !memcmp(batch, other, sizeof(int64_t) * B);
            for (int j = 0; j < C; j++) {
                int c = labels[batch[j * m]];
                class_hits[c]++;
                small_seen += sizes[c] < m;
                for (int u = 0; u < j; u++)
                    balanced &= labels[batch[u * m]] != c;
                for (int t = 0; t < m; t++) {
                    balanced &= labels[batch[j * m + t]] == c;
                    for (int u = 0; u < t && sizes[c] >= m; u++)
                        distinct &= batch[j * m + u] != batch[j * m + t];
                }
            }
        }
    }
    TEST_CHECK(same, "random: two samplers with one seed disagree");
    TEST_CHECK(balanced, "random: a batch is not C distinct classes x m");
    TEST_CHECK(distinct, "random: repeated sample in a class with >= m samples");
    TEST_CHECK(small_seen > 0,
               "random: classes with < m samples never drawn (they are sampled with replacement)");
    // Every class drawn: 20 epochs x 16 batches x 4 classes = 1280 draws over 13 classes, expected ~98 each;
    // P(a class never drawn) = (9/13)^... < 1e-100, so this cannot fail by chance.
    int all = 1;
    for (int k = 0; k < K; k++)
        all &= class_hits[k] > 0;
    TEST_CHECK(all, "random: some class never drawn");
    apt_sampler_batch(r, 0, 0, batch);
    apt_sampler_batch(r, 0, 1, other);
    TEST_CHECK(memcmp(batch, other, sizeof(int64_t) * B) != 0, "random: steps 0 and 1 equal");
    apt_sampler_destroy(r);
    apt_sampler_destroy(r2);
    return apt_test_finish("test_sampler");
}
