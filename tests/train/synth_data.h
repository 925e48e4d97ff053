// synth_data.h — a tiny synthetic image dataset for the training tests, written by aprep's own shard
// writer (data_prep/shard_writer.c: the current format of DESIGN §4, checksums and content hashes
// included), so the tests train on exactly what users' datasets look like: K classes of n_per_class
// images [H, W, C] uint8 each, a class-specific pattern plus noise drawn from the counter-based RNG (the
// content depends only on the arguments). One shard per split.
#pragma once
#include "aprep.h"
#include "core/fsutil.h"
#include "core/rng.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// Writes DIR/<split>.h5 and DIR/<split>-00000.h5. Samples are interleaved by class (i % K). storage:
// APT_STORAGE_RAW, or APT_STORAGE_JPEG (the writer encodes each image).
static inline void synth_write_split_storage(const char *dir, const char *split, int K, int n_per_class, int H,
                                      int W, int C, uint64_t seed, AptStorage storage) {
    apt_mkdir_p(dir);
    const int N = K * n_per_class;
    char **names = malloc((size_t)K * sizeof *names);
    for (int k = 0; k < K; k++) {
        names[k] = malloc(16);
        snprintf(names[k], 16, "class%d", k);
    }
    AprepWriter *w = aprep_writer_create(dir, "synthetic", split, N, H, W, C, storage, N, K, names);
    uint8_t *img = malloc((size_t)H * W * C);
    char path[32];
    for (int i = 0; i < N; i++) {
        const int k = i % K;
        AptRngStream r = apt_rng_stream(seed, APT_RNG_TEST, 0, (uint32_t)k, (uint32_t)i);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) {
                    // Class pattern: a bar whose position and orientation depend on k, plus noise.
                    int on = (k % 2 == 0) ? (y * K / H == k / 2 * 2 % K || y == (k * 3) % H)
                                          : (x * K / W == k / 2 * 2 % K || x == (k * 5) % W);
                    double v = (on ? 180.0 : 40.0) + 60.0 * (apt_rng_next_double(&r) - 0.5);
                    img[((size_t)y * W + x) * C + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
        snprintf(path, sizeof path, "synth/%d.png", i);
        aprep_writer_add(w, img, k, path);
    }
    aprep_writer_finish(w);
    free(img);
    for (int k = 0; k < K; k++) free(names[k]);
    free(names);
}

static inline void synth_write_split(const char *dir, const char *split, int K, int n_per_class, int H, int W,
                                     int C, uint64_t seed) {
    synth_write_split_storage(dir, split, K, n_per_class, H, W, C, seed, APT_STORAGE_RAW);
}
