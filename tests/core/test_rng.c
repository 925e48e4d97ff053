// test_rng.c — Philox4x32-10 against the Random123 known-answer vectors, and stream properties.
#include "core/rng.h"
#include "harness.h"

#include <string.h>

// Philox4x32-10 with an explicit key/counter (the KAT interface of Random123's kat_vectors).
static AptRng4 philox_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
    uint32_t c[4] = {c0, c1, c2, c3}, k[2] = {k0, k1};
    for (int r = 0; r < 10; r++) {
        apt_philox_round(c, k);
        k[0] += 0x9E3779B9u;
        k[1] += 0xBB67AE85u;
    }
    AptRng4 o = {{c[0], c[1], c[2], c[3]}};
    return o;
}

int main(void) {
    // Random123 kat_vectors: philox4x32 10 rounds.
    AptRng4 z = philox_kat(0, 0, 0, 0, 0, 0);
    TEST_CHECK(z.v[0] == 0x6627e8d5u && z.v[1] == 0xe169c58du && z.v[2] == 0xbc57ac4cu && z.v[3] == 0x9b00dbd8u,
               "philox4x32-10 zero vector: %08x %08x %08x %08x", z.v[0], z.v[1], z.v[2], z.v[3]);
    AptRng4 f = philox_kat(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
    TEST_CHECK(f.v[0] == 0x408f276du && f.v[1] == 0x41c83b0eu && f.v[2] == 0xa20bc7c6u && f.v[3] == 0x6d5451fdu,
               "philox4x32-10 ones vector: %08x %08x %08x %08x", f.v[0], f.v[1], f.v[2], f.v[3]);
    AptRng4 p = philox_kat(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
    TEST_CHECK(p.v[0] == 0xd16cfe09u && p.v[1] == 0x94fdccebu && p.v[2] == 0x5001e420u && p.v[3] == 0x24126ea1u,
               "philox4x32-10 pi vector: %08x %08x %08x %08x", p.v[0], p.v[1], p.v[2], p.v[3]);

    // Pure function of its arguments; each argument changes the draw.
    uint64_t a = apt_rng_draw(42, 1, 2, 3, APT_RNG_TEST);
    TEST_CHECK(a == apt_rng_draw(42, 1, 2, 3, APT_RNG_TEST), "draw is not a pure function");
    TEST_CHECK(a != apt_rng_draw(43, 1, 2, 3, APT_RNG_TEST), "seed ignored");
    TEST_CHECK(a != apt_rng_draw(42, 2, 2, 3, APT_RNG_TEST), "epoch ignored");
    TEST_CHECK(a != apt_rng_draw(42, 1, 3, 3, APT_RNG_TEST), "step ignored");
    TEST_CHECK(a != apt_rng_draw(42, 1, 2, 4, APT_RNG_TEST), "sample ignored");
    TEST_CHECK(a != apt_rng_draw(42, 1, 2, 3, APT_RNG_AUGMENT), "purpose ignored");

    // Uniform floats: mean 0.5, variance 1/12 within 5 sigma over 1e6 draws; below() unbiased over 7 bins.
    AptRngStream s = apt_rng_stream(7, APT_RNG_TEST, 0, 0, 0);
    const int n = 1000000;
    double sum = 0, sum2 = 0;
    int bins[7] = {0};
    for (int i = 0; i < n; i++) {
        double u = apt_rng_next_float(&s);
        TEST_CHECK(u >= 0 && u < 1, "uniform out of range: %g", u);
        sum += u;
        sum2 += u * u;
        bins[apt_rng_next_below(&s, 7)]++;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    TEST_CHECK(fabs(mean - 0.5) < 5 * sqrt(1.0 / 12 / n), "uniform mean %g", mean);
    TEST_CHECK(fabs(var - 1.0 / 12) < 1e-3, "uniform variance %g", var);
    for (int k = 0; k < 7; k++)
        TEST_CHECK(fabs(bins[k] - n / 7.0) < 5 * sqrt(n / 7.0), "below(7) bin %d has %d", k, bins[k]);

    // Shuffle is a permutation and depends on the stream only.
    int x[100], y[100];
    for (int i = 0; i < 100; i++) x[i] = y[i] = i;
    AptRngStream s1 = apt_rng_stream(1, APT_RNG_TEST, 5, 0, 0), s2 = apt_rng_stream(1, APT_RNG_TEST, 5, 0, 0);
    apt_rng_shuffle_int(&s1, x, 100);
    apt_rng_shuffle_int(&s2, y, 100);
    TEST_CHECK(memcmp(x, y, sizeof x) == 0, "same stream, different shuffle");
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[x[i]]++;
        moved += x[i] != i;
    }
    for (int i = 0; i < 100; i++) TEST_CHECK(seen[i] == 1, "shuffle lost %d", i);
    TEST_CHECK(moved > 80, "shuffle moved only %d of 100", moved);
    return apt_test_finish("test_rng");
}
