// synth.h — a small synthetic dataset written through aprep's shard writer, for the data tests.
// Pixel bytes are a pure function of (sample, byte) so a test can recompute every expected value.
#pragma once
#include "aprep.h"
#include "core/fsutil.h"
#include "core/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t synth_pixel(int64_t i, size_t byte) {
    AptRng4 r = apt_rng_block(12345, APT_RNG_TEST, (uint32_t)i, (uint32_t)(byte / 16), 0, 0);
    return (uint8_t)(r.v[(byte / 4) % 4] >> (8 * (byte % 4)));
}

// Writes DIR/<split>.h5 + shards: n samples of [H, W, C], labels[i], K classes named "class<k>".
static inline void synth_write(const char *dir, const char *split, int64_t n, int H, int W, int C, int K,
                               const int32_t *labels, int shard_size) {
    apt_mkdir_p(dir);
    char **names = malloc((size_t)K * sizeof *names);
    for (int k = 0; k < K; k++) {
        names[k] = malloc(32);
        snprintf(names[k], 32, "class%d", k);
    }
    AprepWriter *w =
        aprep_writer_create(dir, "synthetic", split, n, H, W, C, APT_STORAGE_RAW, shard_size, K, names);
    size_t bytes = (size_t)H * W * C;
    uint8_t *img = malloc(bytes);
    char path[64];
    for (int64_t i = 0; i < n; i++) {
        for (size_t b = 0; b < bytes; b++)
            img[b] = synth_pixel(i, b);
        snprintf(path, sizeof path, "synthetic/%lld.png", (long long)i);
        aprep_writer_add(w, img, labels[i], path);
    }
    aprep_writer_finish(w);
    free(img);
    for (int k = 0; k < K; k++)
        free(names[k]);
    free(names);
}
