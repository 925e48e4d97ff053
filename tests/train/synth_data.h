// synth_data.h — a tiny synthetic image dataset in the prepared-dataset format of DESIGN §4, written
// with the HDF5 C API (no aprep, no Python), for the training tests: K classes of n_per_class images
// [H, W, C] uint8 each, a class-specific pattern plus noise drawn from the counter-based RNG (so the
// content depends only on the arguments). One shard per split.
#pragma once
#include "core/fsutil.h"
#include "core/rng.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void synth_write_strings(hid_t f, const char *name, const char *const *s, hsize_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
}

static void synth_attr_i64(hid_t o, const char *name, long long v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    H5Sclose(sp);
}

static void synth_attr_str(hid_t o, const char *name, const char *s) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &s);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void synth_write_1d(hid_t f, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *buf) {
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    H5Sclose(sp);
}

// Writes DIR/<split>.h5 and DIR/<split>-00000.h5. Samples are interleaved by class (i % K).
static void synth_write_split(const char *dir, const char *split, int K, int n_per_class, int H, int W, int C,
                              uint64_t seed) {
    apt_mkdir_p(dir);
    int N = K * n_per_class;
    uint8_t *img = malloc((size_t)N * H * W * C);
    int32_t *labels = malloc((size_t)N * sizeof *labels);
    char **paths = malloc((size_t)N * sizeof *paths);
    for (int i = 0; i < N; i++) {
        int k = i % K;
        labels[i] = k;
        AptRngStream r = apt_rng_stream(seed, APT_RNG_TEST, 0, (uint32_t)k, (uint32_t)i);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < C; c++) {
                    // Class pattern: a bar whose position and orientation depend on k, plus noise.
                    int on = (k % 2 == 0) ? (y * K / H == k / 2 * 2 % K || y == (k * 3) % H)
                                          : (x * K / W == k / 2 * 2 % K || x == (k * 5) % W);
                    double v = (on ? 180.0 : 40.0) + 60.0 * (apt_rng_next_double(&r) - 0.5);
                    img[(((size_t)i * H + y) * W + x) * C + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
        paths[i] = malloc(32);
        snprintf(paths[i], 32, "synth/%d.png", i);
    }
    char shard[64], path[4096];
    snprintf(shard, sizeof shard, "%s-00000.h5", split);
    apt_path_join(path, sizeof path, dir, shard);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {(hsize_t)N, (hsize_t)H, (hsize_t)W, (hsize_t)C}, chunk[4] = {1, (hsize_t)H, (hsize_t)W, (hsize_t)C};
    hid_t sp = H5Screate_simple(4, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, img);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    synth_write_1d(f, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)N, labels);
    synth_write_strings(f, "paths", (const char *const *)paths, (hsize_t)N);
    H5Fclose(f);

    char mname[64];
    snprintf(mname, sizeof mname, "%s.h5", split);
    apt_path_join(path, sizeof path, dir, mname);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    synth_attr_i64(f, "format_version", 1);
    synth_attr_str(f, "name", "synthetic");
    synth_attr_i64(f, "num_samples", N);
    synth_attr_i64(f, "num_classes", K);
    synth_attr_i64(f, "height", H);
    synth_attr_i64(f, "width", W);
    synth_attr_i64(f, "channels", C);
    synth_attr_str(f, "storage", "raw");
    const char *shards[1] = {shard};
    synth_write_strings(f, "shards", shards, 1);
    long long sizes[1] = {N};
    synth_write_1d(f, "shard_sizes", H5T_STD_I64LE, H5T_NATIVE_LLONG, 1, sizes);
    char **cn = malloc((size_t)K * sizeof *cn);
    for (int k = 0; k < K; k++) {
        cn[k] = malloc(16);
        snprintf(cn[k], 16, "class%d", k);
    }
    synth_write_strings(f, "class_names", (const char *const *)cn, (hsize_t)K);
    synth_write_1d(f, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)N, labels);
    H5Fclose(f);
    for (int k = 0; k < K; k++) free(cn[k]);
    free(cn);
    for (int i = 0; i < N; i++) free(paths[i]);
    free(paths);
    free(labels);
    free(img);
}
