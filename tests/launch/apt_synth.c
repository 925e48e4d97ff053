// apt_synth.c — write the synthetic dataset of tests/train/synth_data.h to a directory, for the end-to-end
// launch tests that run the real binaries (Slurm, killed and hung ranks, damaged rows):
//   apt_synth DIR [K n_train_per_class n_test_per_class [raw|jpeg]]   (28x28x1 images; defaults 8 16 8 raw)
//   apt_synth --damage SHARD.h5 ROW    invert 16 stored bytes of row ROW in place, as a bad disk or copy
//                                      would: the row's CRC-32 no longer matches (raw or jpeg storage)
//   apt_synth --photos ROOT N          N 32x32 RGB JPEG files in each of ROOT/a and ROOT/b (aprep folder
//   input)
#include "data/imgfiles.h"
#include "synth_data.h"

#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// File offset of byte `at` of row `row` in /images: raw rows are one unfiltered chunk each; jpeg rows are
// byte ranges of a 1-D dataset cut into unfiltered chunks (the offset is in /offsets).
static long long row_file_offset(const char *path, long long row, long long *len) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(sp);
    H5Sclose(sp);
    hsize_t coord[4] = {0}, size = 0, cdim[4] = {0};
    haddr_t addr = HADDR_UNDEF;
    unsigned mask = 0;
    long long at = -1;
    if (nd == 4) {
        coord[0] = (hsize_t)row;
        if (H5Dget_chunk_info_by_coord(d, coord, &mask, &addr, &size) >= 0) at = (long long)addr;
        *len = (long long)size;
    } else {
        uint64_t off[2];
        hid_t o = H5Dopen2(f, "offsets", H5P_DEFAULT);
        hid_t fs = H5Dget_space(o);
        hsize_t start = (hsize_t)row, cnt = 2;
        hid_t ms = H5Screate_simple(1, &cnt, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &cnt, NULL);
        herr_t rc = H5Dread(o, H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, off);
        H5Sclose(ms);
        H5Sclose(fs);
        H5Dclose(o);
        hid_t dcpl = H5Dget_create_plist(d);
        H5Pget_chunk(dcpl, 1, cdim);
        H5Pclose(dcpl);
        coord[0] = off[0] / cdim[0] * cdim[0];
        if (rc >= 0 && off[1] - off[0] >= 32 && (off[1] - 1) / cdim[0] == off[0] / cdim[0] &&
            H5Dget_chunk_info_by_coord(d, coord, &mask, &addr, &size) >= 0)
            at = (long long)addr + (long long)(off[0] - coord[0]);
        *len = (long long)(off[1] - off[0]);
    }
    H5Dclose(d);
    H5Fclose(f);
    return at;
}

static int damage(const char *path, long long row) {
    long long len = 0, at = row_file_offset(path, row, &len);
    if (at < 0 || len < 32) {
        fprintf(stderr, "apt_synth: %s: cannot locate row %lld\n", path, row);
        return 1;
    }
    int fd = open(path, O_RDWR);
    unsigned char b[16];
    // The middle of the row: past a JPEG's headers, in its entropy-coded data (or the raw pixels).
    off_t pos = (off_t)(at + len / 2 - 8);
    if (fd < 0 || pread(fd, b, sizeof b, pos) != (ssize_t)sizeof b) return 1;
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (unsigned char)~b[i];
    int ok = pwrite(fd, b, sizeof b, pos) == (ssize_t)sizeof b;
    close(fd);
    return ok ? 0 : 1;
}

static int photos(const char *root, int n) {
    uint8_t px[32 * 32 * 3];
    char path[4096];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%c", root, 'a' + k);
        apt_mkdir_p(path);
        for (int i = 0; i < n; i++) {
            img_pattern(px, 32, 32, 3, (uint32_t)(k * 100 + i));
            snprintf(path, sizeof path, "%s/%c/%02d.jpg", root, 'a' + k, i);
            if (img_write_jpeg(path, px, 32, 32) != 0) return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--damage")) return damage(argv[2], atoll(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "--photos")) return photos(argv[2], atoi(argv[3]));
    if (argc < 2) {
        fprintf(stderr, "usage: apt_synth DIR [K n_train_per_class n_test_per_class [raw|jpeg]]\n"
                        "       apt_synth --damage SHARD.h5 ROW\n");
        return 2;
    }
    int K = argc > 2 ? atoi(argv[2]) : 8, n_train = argc > 3 ? atoi(argv[3]) : 16, n_test = argc > 4 ? atoi(argv[4]) : 8;
    AptStorage st = argc > 5 && !strcmp(argv[5], "jpeg") ? APT_STORAGE_JPEG : APT_STORAGE_RAW;
    if (K < 2 || n_train < 2 || n_test < 2) {
        fprintf(stderr, "apt_synth: K, n_train and n_test must be >= 2\n");
        return 2;
    }
    synth_write_split_storage(argv[1], "train", K, n_train, 28, 28, 1, 1, st);
    synth_write_split_storage(argv[1], "test", K, n_test, 28, 28, 1, 2, st);
    return 0;
}
