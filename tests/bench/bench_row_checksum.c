// bench_row_checksum.c — what a per-row integrity check costs a shard reader, to choose between HDF5's
// Fletcher32 filter and our own CRC-32 per row (figures in tests/bench/RESULTS.md). Not a ctest.
//
//   bench_row_checksum [DIR] [ROWS]
//
// For raw rows of 28x28x1 and 224x224x3 (one image per chunk) it times, per row read in random order:
//   direct:        H5Dread_chunk, no check (the fast path, format 1);
//   direct + CRC:  H5Dread_chunk, then zlib crc32 of the row compared with /checksums (format 2);
//   fletcher32:    the same dataset with the Fletcher32 filter: H5Dread_chunk cannot be used (it returns the
//                  stored bytes unverified), so a hyperslab H5Dread, which verifies the filter.
// And for jpeg rows (~50 KB byte ranges of one 1-D uint8 dataset in 1 MiB chunks):
//   hyperslab + CRC (format 2) against Fletcher32 on the 1 MiB chunks (each read verifies whole chunks).
// Times are thread CPU time, best of 3 passes, in microseconds per row.
#define _GNU_SOURCE
#include "core/rng.h"
#include "h5/h5check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static double tcpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static hid_t make(const char *path, int rank, const hsize_t *dims, const hsize_t *chunk, int fletcher,
                  const uint8_t *data) {
    hid_t f = apt_h5_create(path);
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    if (fletcher) H5Pset_fletcher32(dcpl);
    hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    return f;
}

// mode 0 direct, 1 direct + crc, 2 hyperslab (filtered)
static double raw_rows(hid_t f, int n, size_t row, int mode, const uint32_t *crc, const int *order) {
    hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
    uint8_t *buf = malloc(row);
    double best = 1e9;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = tcpu();
        for (int k = 0; k < n; k++) {
            int i = order[k];
            if (mode < 2) {
                hsize_t off[4] = {(hsize_t)i, 0, 0, 0};
                uint32_t filt = 0;
                H5Dread_chunk(d, H5P_DEFAULT, off, &filt, buf);
                if (mode == 1 && (uint32_t)crc32(0L, buf, (uInt)row) != crc[i]) abort();
            } else {
                hid_t fs = H5Dget_space(d);
                int nd = H5Sget_simple_extent_ndims(fs);
                hsize_t start[4] = {(hsize_t)i, 0, 0, 0}, count[4];
                H5Sget_simple_extent_dims(fs, count, NULL);
                count[0] = 1;
                hid_t ms = H5Screate_simple(nd, count, NULL);
                H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
                if (H5Dread(d, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, buf) < 0) abort();
                H5Sclose(ms);
                H5Sclose(fs);
            }
        }
        double t = (tcpu() - t0) / n;
        if (t < best) best = t;
    }
    free(buf);
    H5Dclose(d);
    return best * 1e6;
}

static double jpeg_rows(hid_t f, int n, const uint64_t *off, int crc_check, const uint32_t *crc,
                        const int *order) {
    hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
    uint8_t *buf = malloc(1 << 20);
    double best = 1e9;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = tcpu();
        for (int k = 0; k < n; k++) {
            int i = order[k];
            hsize_t start[1] = {off[i]}, count[1] = {off[i + 1] - off[i]};
            hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, count, NULL);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
            if (H5Dread(d, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, buf) < 0) abort();
            H5Sclose(ms);
            H5Sclose(fs);
            if (crc_check && (uint32_t)crc32(0L, buf, (uInt)count[0]) != crc[i]) abort();
        }
        double t = (tcpu() - t0) / n;
        if (t < best) best = t;
    }
    free(buf);
    H5Dclose(d);
    return best * 1e6;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    const int n = argc > 2 ? atoi(argv[2]) : 400;
    apt_h5_init();
    int *order = malloc((size_t)n * sizeof(int));
    AptRngStream r = apt_rng_stream(1, APT_RNG_TEST, 0, 0, 0);
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)apt_rng_next_below(&r, (uint32_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    printf("bench_row_checksum: %d rows, random order, thread CPU time, best of 3 passes (us per row)\n", n);
    printf("%-22s %10s %14s %12s\n", "rows", "direct", "direct + CRC", "fletcher32");
    static const int shapes[2][3] = {{28, 28, 1}, {224, 224, 3}};
    char pa[4096], pb[4096];
    for (int s = 0; s < 2; s++) {
        const size_t row = (size_t)shapes[s][0] * shapes[s][1] * shapes[s][2];
        uint8_t *data = malloc(row * n);
        for (size_t b = 0; b < row * n; b++)
            data[b] = (uint8_t)apt_rng_next_u32(&r);
        uint32_t *crc = malloc((size_t)n * sizeof(uint32_t));
        for (int i = 0; i < n; i++)
            crc[i] = (uint32_t)crc32(0L, data + row * i, (uInt)row);
        hsize_t dims[4] = {(hsize_t)n, (hsize_t)shapes[s][0], (hsize_t)shapes[s][1], (hsize_t)shapes[s][2]};
        hsize_t chunk[4] = {1, dims[1], dims[2], dims[3]};
        snprintf(pa, sizeof pa, "%s/bench_rows_plain.h5", dir);
        snprintf(pb, sizeof pb, "%s/bench_rows_f32.h5", dir);
        hid_t fa = make(pa, 4, dims, chunk, 0, data), fb = make(pb, 4, dims, chunk, 1, data);
        double t0 = raw_rows(fa, n, row, 0, crc, order), t1 = raw_rows(fa, n, row, 1, crc, order),
               t2 = raw_rows(fb, n, row, 2, crc, order);
        char name[64];
        snprintf(name, sizeof name, "raw %dx%dx%d", shapes[s][0], shapes[s][1], shapes[s][2]);
        printf("%-22s %10.1f %14.1f %12.1f\n", name, t0, t1, t2);
        H5Fclose(fa);
        H5Fclose(fb);
        free(data);
        free(crc);
    }
    // jpeg-like rows: 40-60 KB byte ranges
    uint64_t *off = malloc((size_t)(n + 1) * sizeof(uint64_t));
    off[0] = 0;
    for (int i = 0; i < n; i++)
        off[i + 1] = off[i] + 40000 + apt_rng_next_below(&r, 20000);
    uint8_t *data = malloc(off[n]);
    for (uint64_t b = 0; b < off[n]; b++)
        data[b] = (uint8_t)apt_rng_next_u32(&r);
    uint32_t *crc = malloc((size_t)n * sizeof(uint32_t));
    for (int i = 0; i < n; i++)
        crc[i] = (uint32_t)crc32(0L, data + off[i], (uInt)(off[i + 1] - off[i]));
    hsize_t dims[1] = {off[n]}, chunk[1] = {1 << 20};
    hid_t fa = make(pa, 1, dims, chunk, 0, data), fb = make(pb, 1, dims, chunk, 1, data);
    printf("%-22s %10.1f %14.1f %12.1f\n", "jpeg ~50 KB, 1 MiB ch", jpeg_rows(fa, n, off, 0, crc, order),
           jpeg_rows(fa, n, off, 1, crc, order), jpeg_rows(fb, n, off, 0, crc, order));
    H5Fclose(fa);
    H5Fclose(fb);
    remove(pa);
    remove(pb);
    return 0;
}
