// shard_writer.c — the one writer of the DESIGN §4 layout: shards DIR/<split>-NNNNN.h5 with /images
// (uint8 [n, H, W, C], one image per chunk, unfiltered so readers can pread rows directly), /labels,
// /paths; then the manifest DIR/<split>.h5 with its attributes, /shards, /shard_sizes, /class_names and
// /labels in global order. Images are buffered and written a block of rows per HDF5 call.
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "data/h5check.h"
#include "data/h5strings.h"

#include <stdlib.h>
#include <string.h>

#define WRITE_BLOCK 256 // rows per H5Dwrite

struct AprepWriter {
    char dir[4096], name[256], split[64];
    int64_t n, written;
    int H, W, C, shard_size, num_classes, num_shards;
    AptStorage storage;
    char **class_names;
    int32_t *labels; // [n] global
    char **shard_files;
    int64_t *shard_sizes;
    // current shard
    int cur; // index of the open shard, -1 before the first
    hid_t file, images;
    int64_t rows, row; // rows of the open shard, rows appended so far
    uint8_t *block;    // [WRITE_BLOCK, H, W, C]
    int in_block;
    int64_t block_row0;
    char **paths; // [rows] of the open shard
};

AprepWriter *aprep_writer_create(const char *dir, const char *name, const char *split, int64_t n, int H,
                                 int W, int C, AptStorage storage, int shard_size, int num_classes,
                                 char *const *class_names) {
    if (storage != APT_STORAGE_RAW) apt_user_error("--storage jpeg is not implemented yet (use raw)");
    APT_CHECK(H > 0 && W > 0 && C > 0 && shard_size > 0 && n >= 0, "bad writer geometry");
    AprepWriter *w = apt_calloc(1, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->split, sizeof w->split, "%s", split);
    w->n = n;
    w->H = H;
    w->W = W;
    w->C = C;
    w->storage = storage;
    w->shard_size = shard_size;
    w->num_classes = num_classes;
    w->class_names = apt_calloc((size_t)num_classes, sizeof(char *));
    for (int k = 0; k < num_classes; k++)
        w->class_names[k] = strdup(class_names[k]);
    w->labels = apt_malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    w->num_shards = n == 0 ? 1 : (int)((n + shard_size - 1) / shard_size);
    w->shard_files = apt_calloc((size_t)w->num_shards, sizeof(char *));
    w->shard_sizes = apt_calloc((size_t)w->num_shards, sizeof(int64_t));
    w->cur = -1;
    w->file = w->images = -1;
    w->block = apt_malloc((size_t)WRITE_BLOCK * H * W * C);
    w->paths = apt_calloc((size_t)shard_size, sizeof(char *));
    apt_h5_init();
    return w;
}

static void flush_block(AprepWriter *w) {
    if (!w->in_block) return;
    hsize_t start[4] = {(hsize_t)w->block_row0, 0, 0, 0};
    hsize_t count[4] = {(hsize_t)w->in_block, (hsize_t)w->H, (hsize_t)w->W, (hsize_t)w->C};
    apt_h5_lock();
    hid_t fs = H5Dget_space(w->images);
    hid_t ms = H5Screate_simple(4, count, NULL);
    H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL));
    herr_t rc = H5Dwrite(w->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, w->block);
    H5Sclose(ms);
    H5Sclose(fs);
    apt_h5_unlock();
    if (rc < 0) apt_user_error("%s/%s: writing /images failed (disk full?)", w->dir, w->shard_files[w->cur]);
    w->in_block = 0;
}

static void close_shard(AprepWriter *w) {
    if (w->cur < 0) return;
    flush_block(w);
    char path[4096];
    apt_path_join(path, sizeof path, w->dir, w->shard_files[w->cur]);
    apt_h5_lock();
    hsize_t dims[1] = {(hsize_t)w->rows};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(w->file, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0 && (w->rows == 0 || H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                                 w->labels + (w->written - w->rows)) >= 0);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    ok = ok && apt_h5_write_strings(w->file, "paths", w->paths, w->rows) == 0;
    H5Dclose(w->images);
    ok = ok && H5Fclose(w->file) >= 0;
    apt_h5_unlock();
    if (!ok) apt_user_error("%s: writing the shard failed (disk full?)", path);
    for (int64_t i = 0; i < w->rows; i++) {
        free(w->paths[i]);
        w->paths[i] = NULL;
    }
    w->file = w->images = -1;
}

static void open_shard(AprepWriter *w, int s) {
    char fname[128], path[4096];
    snprintf(fname, sizeof fname, "%s-%05d.h5", w->split, s);
    w->shard_files[s] = strdup(fname);
    apt_path_join(path, sizeof path, w->dir, fname);
    int64_t rows = w->n - (int64_t)s * w->shard_size;
    if (rows > w->shard_size) rows = w->shard_size;
    w->cur = s;
    w->rows = rows;
    w->row = 0;
    w->shard_sizes[s] = rows;
    apt_h5_lock();
    w->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) apt_user_error("%s: cannot create shard file", path); // exits holding the lock
    hsize_t dims[4] = {(hsize_t)rows, (hsize_t)w->H, (hsize_t)w->W, (hsize_t)w->C};
    hsize_t chunk[4] = {1, (hsize_t)w->H, (hsize_t)w->W, (hsize_t)w->C};
    hid_t sp = H5Screate_simple(4, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5_CHECK(H5Pset_chunk(dcpl, 4, chunk));
    H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER)); // every chunk is written exactly once
    w->images = H5Dcreate2(w->file, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    apt_h5_unlock();
    if (w->images < 0) apt_user_error("%s: cannot create /images", path);
}

void aprep_writer_add(AprepWriter *w, const uint8_t *image, int32_t label, const char *path) {
    APT_CHECK(w->written < w->n, "more samples than announced (%lld)", (long long)w->n);
    APT_CHECK(label >= 0 && label < w->num_classes, "label %d outside [0, %d)", label, w->num_classes);
    if (w->cur < 0 || w->row == w->rows) {
        close_shard(w);
        open_shard(w, w->cur + 1);
    }
    if (w->in_block == 0) w->block_row0 = w->row;
    const size_t bytes = (size_t)w->H * w->W * w->C;
    memcpy(w->block + (size_t)w->in_block * bytes, image, bytes);
    w->paths[w->row] = strdup(path ? path : "");
    w->labels[w->written] = label;
    w->in_block++;
    w->row++;
    w->written++;
    if (w->in_block == WRITE_BLOCK) flush_block(w);
}

void aprep_writer_finish(AprepWriter *w) {
    APT_CHECK(w->written == w->n, "%lld of %lld samples written", (long long)w->written, (long long)w->n);
    if (w->cur < 0) open_shard(w, 0); // an empty split still gets its (empty) shard
    close_shard(w);
    char fname[128], path[4096];
    snprintf(fname, sizeof fname, "%s.h5", w->split);
    apt_path_join(path, sizeof path, w->dir, fname);
    apt_h5_lock();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int ok = f >= 0;
    ok = ok && apt_h5_attr_write_i64(f, "format_version", APT_DATA_FORMAT_VERSION, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_str(f, "name", w->name) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "num_samples", w->n, H5T_STD_I64LE) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "num_classes", w->num_classes, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "height", w->H, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "width", w->W, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "channels", w->C, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_str(f, "storage", apt_storage_name(w->storage)) == 0;
    ok = ok && apt_h5_write_strings(f, "shards", w->shard_files, w->num_shards) == 0;
    ok = ok && apt_h5_write_strings(f, "class_names", w->class_names, w->num_classes) == 0;
    if (ok) {
        hsize_t ds[1] = {(hsize_t)w->num_shards}, dn[1] = {(hsize_t)w->n};
        hid_t sp = H5Screate_simple(1, ds, NULL);
        hid_t d = H5Dcreate2(f, "shard_sizes", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = d >= 0 && H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->shard_sizes) >= 0;
        if (d >= 0) H5Dclose(d);
        H5Sclose(sp);
        sp = H5Screate_simple(1, dn, NULL);
        d = H5Dcreate2(f, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = ok && d >= 0 &&
             (w->n == 0 || H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->labels) >= 0);
        if (d >= 0) H5Dclose(d);
        H5Sclose(sp);
    }
    if (f >= 0) ok = H5Fclose(f) >= 0 && ok;
    apt_h5_unlock();
    if (!ok) apt_user_error("%s: writing the manifest failed (disk full?)", path);
    for (int k = 0; k < w->num_classes; k++)
        free(w->class_names[k]);
    for (int s = 0; s < w->num_shards; s++)
        free(w->shard_files[s]);
    free(w->class_names);
    free(w->shard_files);
    free(w->shard_sizes);
    free(w->labels);
    free(w->block);
    free(w->paths);
    free(w);
}
