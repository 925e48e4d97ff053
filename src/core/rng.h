// rng.h — counter-based random numbers (Philox4x32-10, Salmon et al. SC'11).
//
// Every random draw in aptrain is a pure function of (seed, epoch, step, sample, purpose, index):
// no generator state is carried between steps, threads or ranks, so any rank, thread or device
// reproduces any draw on its own (DESIGN §1 determinism contract).
//   key     = (seed_lo, seed_hi ^ purpose * golden)   — one independent stream family per purpose
//   counter = (epoch, step, sample, index)            — index walks within one (epoch, step, sample)
// Header-only so CUDA kernels use the very same function (APT_HD).
#pragma once
#include <stdint.h>

#if defined(__CUDACC__)
#define APT_HD __host__ __device__ __forceinline__
#else
#define APT_HD static inline
#endif

// Purposes: add new ones at the end, never renumber (reruns depend on them).
enum {
    APT_RNG_SAMPLER_CLASS = 1, // class order / class draw of the global plan
    APT_RNG_SAMPLER_ITEM = 2,  // sample order within a class
    APT_RNG_AUGMENT = 3,       // augmentation parameters of one sample
    APT_RNG_INIT = 4,          // initial weights (sample = parameter index)
    APT_RNG_TEST = 5,          // tests and benchmarks
    APT_RNG_DROP_PATH = 6,     // stochastic depth keep/drop of one sample in one residual branch
    APT_RNG_SIMIX = 7,         // SiMix mixing weight of one virtual row (sample = its pair index in the batch)
};

typedef struct { uint32_t v[4]; } AptRng4;

APT_HD void apt_philox_round(uint32_t c[4], const uint32_t k[2]) {
    const uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
    const uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
}

// Philox4x32-10 block: 128 random bits for one counter.
APT_HD AptRng4 apt_rng_block(uint64_t seed, uint32_t purpose, uint32_t epoch, uint32_t step, uint32_t sample,
                             uint32_t index) {
    uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32) ^ (purpose * 0x9E3779B9u)};
    uint32_t c[4] = {epoch, step, sample, index};
    for (int r = 0; r < 10; r++) {
        apt_philox_round(c, k);
        k[0] += 0x9E3779B9u;
        k[1] += 0xBB67AE85u;
    }
    AptRng4 out = {{c[0], c[1], c[2], c[3]}};
    return out;
}

// The canonical draw of DESIGN §1: 64 random bits for (seed, epoch, step, sample, purpose).
APT_HD uint64_t apt_rng_draw(uint64_t seed, uint32_t epoch, uint32_t step, uint32_t sample, uint32_t purpose) {
    AptRng4 r = apt_rng_block(seed, purpose, epoch, step, sample, 0);
    return ((uint64_t)r.v[0] << 32) | r.v[1];
}

// Uniform float in [0, 1) from 24 random bits, double in [0, 1) from 53.
APT_HD float apt_rng_u32_to_float(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }
APT_HD double apt_rng_u64_to_double(uint64_t x) { return (double)(x >> 11) * (1.0 / 9007199254740992.0); }

// A stream of draws for one (seed, purpose, epoch, step, sample): walks the index word.
typedef struct {
    uint64_t seed;
    uint32_t purpose, epoch, step, sample, index;
    AptRng4 buf;
    int used; // words of buf already consumed (4 = empty)
} AptRngStream;

APT_HD AptRngStream apt_rng_stream(uint64_t seed, uint32_t purpose, uint32_t epoch, uint32_t step,
                                   uint32_t sample) {
    AptRngStream s;
    s.seed = seed;
    s.purpose = purpose;
    s.epoch = epoch;
    s.step = step;
    s.sample = sample;
    s.index = 0;
    s.used = 4;
    s.buf.v[0] = s.buf.v[1] = s.buf.v[2] = s.buf.v[3] = 0;
    return s;
}

APT_HD uint32_t apt_rng_next_u32(AptRngStream *s) {
    if (s->used == 4) {
        s->buf = apt_rng_block(s->seed, s->purpose, s->epoch, s->step, s->sample, s->index++);
        s->used = 0;
    }
    return s->buf.v[s->used++];
}

APT_HD uint64_t apt_rng_next_u64(AptRngStream *s) {
    uint64_t hi = apt_rng_next_u32(s);
    return (hi << 32) | apt_rng_next_u32(s);
}

APT_HD float apt_rng_next_float(AptRngStream *s) { return apt_rng_u32_to_float(apt_rng_next_u32(s)); }
APT_HD double apt_rng_next_double(AptRngStream *s) { return apt_rng_u64_to_double(apt_rng_next_u64(s)); }

// Uniform integer in [0, n) without modulo bias (Lemire's multiply-shift with rejection).
APT_HD uint32_t apt_rng_next_below(AptRngStream *s, uint32_t n) {
    uint64_t m = (uint64_t)apt_rng_next_u32(s) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (uint64_t)apt_rng_next_u32(s) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

// Standard normal by Box-Muller (two uniforms per draw; deterministic, no cached second value).
APT_HD double apt_rng_next_normal(AptRngStream *s);

#if !defined(__CUDACC__)
#include <math.h>
APT_HD double apt_rng_next_normal(AptRngStream *s) {
    double u1 = apt_rng_next_double(s), u2 = apt_rng_next_double(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
#endif

// In-place Fisher-Yates shuffle of n ints with the stream.
APT_HD void apt_rng_shuffle_int(AptRngStream *s, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)apt_rng_next_below(s, (uint32_t)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
