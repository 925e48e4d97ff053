// sampler.h — the global class-balanced batch plan (DESIGN §4), identical on every rank.
//
// A global batch holds B = C * m samples: C distinct classes, m samples each, laid out class-major
// (class 0's m samples, then class 1's, ...). Batch (epoch, step) is a pure function of
// (seed, epoch, step) via the counter-based RNG, so every rank derives it without communication, and
// rank r of W takes the contiguous slice [r*b, (r+1)*b), b = B / W.
//
// Modes:
//  APT_SAMPLER_EPOCH  the Smooth-AP code's plan, without replacement. Per epoch: shuffle each class's
//    samples and the class order; repeatedly form a batch from the first C classes (in that order) that
//    still have >= m unused samples, taking the next m of each; stop when fewer than C classes have m
//    left; finally shuffle the order of the batches. Classes with fewer than m samples never appear
//    (counted in apt_sampler_skipped_classes and logged as a warning at creation). Batches per epoch
//    depend on the class order, hence on the epoch: ask apt_sampler_batches_per_epoch(s, epoch).
//  APT_SAMPLER_RANDOM the PNP code's plan, with replacement across batches: each batch draws C distinct
//    classes uniformly among the non-empty ones, then m samples of each: distinct when the class has
//    >= m samples, drawn with replacement when it has fewer. Batches per epoch = floor(N / B).
// Creating a sampler whose plan would be empty (fewer than C eligible classes) is a user error.
//
// Thread safety: epoch mode caches the current epoch's plan inside the sampler, so calls on one sampler
// must be serialised (the loader does so). Cost: O(N) once per epoch, O(B) per batch.
#pragma once
#include <stdint.h>

#include "config/config.h" // AptSamplerMode

typedef struct AptSampler AptSampler;

// labels: [N] in [0, K) (copied). B = C_per_batch * m. what: file name used in error messages.
AptSampler *apt_sampler_create(const int32_t *labels, int64_t N, int K, int C_per_batch, int m,
                               AptSamplerMode mode, uint64_t seed, const char *what);
void apt_sampler_destroy(AptSampler *s);

int apt_sampler_batch_size(const AptSampler *s);             // B
int apt_sampler_batches_per_epoch(AptSampler *s, int epoch); // >= 1
int apt_sampler_skipped_classes(const AptSampler *s); // classes that can never fill m slots (epoch mode)

// The global batch (epoch, step), step in [0, batches_per_epoch): B global sample indices, class-major.
void apt_sampler_batch(AptSampler *s, int epoch, int step, int64_t *global_indices /* [B] */);

// Rank slice of a global batch: [begin, begin + b) with b = B / W. W must divide B (fatal otherwise).
int apt_sampler_local_size(int B, int world);
int apt_sampler_local_begin(int B, int world, int rank);
