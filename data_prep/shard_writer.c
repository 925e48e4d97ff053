// shard_writer.c — the one writer of the DESIGN §4 layout (format 2), and the output-directory discipline.
//
// Shards DIR/<split>-NNNNN.h5:
//   raw:  /images uint8 [n, H, W, C], one image per chunk, unfiltered (readers fetch a row with one
//         H5Dread_chunk call);
//   jpeg: /images uint8 [total bytes] (1 MiB chunks, unfiltered), /offsets uint64 [n + 1] (row i is bytes
//         [offsets[i], offsets[i+1])), /sizes int32 [n, 2] (height, width of each encoded image);
//   both: /checksums uint32 [n] (CRC-32 of each row's stored bytes, verified on every read), /labels int32
//         [n], /paths (fixed-length strings, provenance). Every dataset but /images carries the Fletcher32
//         filter. Why our own CRC rather than Fletcher32 on /images: a filtered dataset loses the
//         H5Dread_chunk fast path (tests/bench/RESULTS.md has the per-row costs), and a CRC per row lets an
//         error name the row, where a 1 MiB jpeg chunk spans many rows.
// Manifest DIR/<split>.h5: attributes, /shards, /shard_sizes, /shard_hashes (apt_shard_hash), /class_names,
// /labels in global order, /skipped. All files in the HDF5 1.10 format (apt_h5_create), object timestamps
// off, so the same input gives the same bytes.
//
// Each file is written under "<name>.part" and renamed when complete: a shard file under its final name is
// always whole, which is what --resume relies on.
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "h5/h5strings.h"

#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#define WRITE_BLOCK 256       // raw rows per H5Dwrite
#define JPEG_FLUSH (8u << 20) // jpeg bytes buffered per H5Dwrite
#define JPEG_CHUNK ((hsize_t)1 << 20)

struct AprepWriter {
    char dir[4096], name[256], split[64];
    int64_t n, written;
    int H, W, C, shard_size, num_classes, num_shards, quality;
    AptStorage storage;
    char **class_names;
    int32_t *labels; // [n] global
    char **shard_files;
    int64_t *shard_sizes;
    uint64_t *shard_hash;
    char **skipped;
    int64_t num_skipped;
    // current shard
    int cur; // index of the open shard, -1 before the first
    hid_t file, images;
    int64_t rows, row; // rows of the open shard, rows appended so far
    char part[4200], final[4096];
    uint8_t *block; // raw: [WRITE_BLOCK, H, W, C]; jpeg: pending bytes
    size_t block_cap, block_len;
    int in_block;
    int64_t block_row0;
    uint64_t *offsets;  // [shard_size + 1] jpeg byte offsets (raw: unused)
    uint64_t *rowbytes; // [shard_size]
    uint32_t *crc;      // [shard_size]
    int32_t *sizes;     // [shard_size, 2]
    char **paths;       // [shard_size] of the open shard
    uint64_t flushed;   // jpeg bytes already in /images
    tjhandle tj;
};

AprepWriter *aprep_writer_create(const char *dir, const char *name, const char *split, int64_t n, int H,
                                 int W, int C, AptStorage storage, int shard_size, int num_classes,
                                 char *const *class_names) {
    APT_CHECK(C > 0 && shard_size > 0 && n >= 0, "bad writer geometry");
    APT_CHECK(storage == APT_STORAGE_JPEG || (H > 0 && W > 0), "raw storage needs a fixed size");
    AprepWriter *w = apt_calloc(1, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->split, sizeof w->split, "%s", split);
    w->n = n;
    w->H = H;
    w->W = W;
    w->C = C;
    w->storage = storage;
    w->quality = 90;
    w->shard_size = shard_size;
    w->num_classes = num_classes;
    w->class_names = apt_calloc((size_t)num_classes, sizeof(char *));
    for (int k = 0; k < num_classes; k++)
        w->class_names[k] = strdup(class_names[k]);
    w->labels = apt_malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    w->num_shards = n == 0 ? 1 : (int)((n + shard_size - 1) / shard_size);
    w->shard_files = apt_calloc((size_t)w->num_shards, sizeof(char *));
    w->shard_sizes = apt_calloc((size_t)w->num_shards, sizeof(int64_t));
    w->shard_hash = apt_calloc((size_t)w->num_shards, sizeof(uint64_t));
    for (int s = 0; s < w->num_shards; s++) {
        char fname[128];
        snprintf(fname, sizeof fname, "%s-%05d.h5", split, s);
        w->shard_files[s] = strdup(fname);
        int64_t rows = n - (int64_t)s * shard_size;
        w->shard_sizes[s] = rows > shard_size ? shard_size : rows;
    }
    w->cur = -1;
    w->file = w->images = -1;
    w->block_cap = storage == APT_STORAGE_RAW ? (size_t)WRITE_BLOCK * H * W * C : JPEG_FLUSH;
    w->block = apt_malloc(w->block_cap);
    w->offsets = apt_calloc((size_t)shard_size + 1, sizeof(uint64_t));
    w->rowbytes = apt_calloc((size_t)shard_size, sizeof(uint64_t));
    w->crc = apt_calloc((size_t)shard_size, sizeof(uint32_t));
    w->sizes = apt_calloc((size_t)shard_size * 2, sizeof(int32_t));
    w->paths = apt_calloc((size_t)shard_size, sizeof(char *));
    apt_h5_init();
    return w;
}

void aprep_writer_set_quality(AprepWriter *w, int quality) {
    w->quality = quality;
}

void aprep_writer_skipped(AprepWriter *w, char *const *lines, int64_t n) {
    w->skipped = apt_calloc((size_t)(n ? n : 1), sizeof(char *));
    for (int64_t i = 0; i < n; i++)
        w->skipped[i] = strdup(lines[i]);
    w->num_skipped = n;
}

static void flush_block(AprepWriter *w) {
    if (w->storage == APT_STORAGE_RAW && !w->in_block) return;
    if (w->storage == APT_STORAGE_JPEG && !w->block_len) return;
    apt_h5_lock();
    herr_t rc;
    if (w->storage == APT_STORAGE_RAW) {
        hsize_t start[4] = {(hsize_t)w->block_row0, 0, 0, 0};
        hsize_t count[4] = {(hsize_t)w->in_block, (hsize_t)w->H, (hsize_t)w->W, (hsize_t)w->C};
        hid_t fs = H5Dget_space(w->images);
        hid_t ms = H5Screate_simple(4, count, NULL);
        H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL));
        rc = H5Dwrite(w->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, w->block);
        H5Sclose(ms);
        H5Sclose(fs);
    } else {
        hsize_t start[1] = {w->flushed}, count[1] = {w->block_len}, size[1] = {w->flushed + w->block_len};
        rc = H5Dset_extent(w->images, size);
        if (rc >= 0) {
            hid_t fs = H5Dget_space(w->images);
            hid_t ms = H5Screate_simple(1, count, NULL);
            H5_CHECK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL));
            rc = H5Dwrite(w->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, w->block);
            H5Sclose(ms);
            H5Sclose(fs);
        }
        w->flushed += w->block_len;
    }
    apt_h5_unlock();
    if (rc < 0) apt_user_error("%s: writing /images failed (disk full?)", w->part);
    w->in_block = 0;
    w->block_len = 0;
}

static void close_shard(AprepWriter *w) {
    if (w->cur < 0 || w->file < 0) return;
    flush_block(w);
    const int64_t n = w->rows;
    const int32_t *lab = w->labels + (w->written - n);
    hsize_t d1[1] = {(hsize_t)n}, d2[2] = {(hsize_t)n, 2}, d1p[1] = {(hsize_t)n + 1};
    apt_h5_lock();
    int ok = apt_h5_write_nd(w->file, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, lab) == 0;
    ok = ok && apt_h5_write_nd(w->file, "checksums", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, d1, w->crc) == 0;
    if (w->storage == APT_STORAGE_JPEG) {
        ok = ok &&
             apt_h5_write_nd(w->file, "offsets", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, d1p, w->offsets) == 0;
        ok = ok && apt_h5_write_nd(w->file, "sizes", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, d2, w->sizes) == 0;
    }
    ok = ok && apt_h5_write_strings(w->file, "paths", w->paths, n) == 0;
    H5Dclose(w->images);
    ok = H5Fclose(w->file) >= 0 && ok;
    apt_h5_unlock();
    if (!ok) apt_user_error("%s: writing the shard failed (disk full?)", w->part);
    if (apt_rename_durable(w->part, w->final) != 0)
        apt_user_error("%s: cannot rename onto %s", w->part, w->final);
    w->shard_hash[w->cur] = apt_shard_hash(lab, w->rowbytes, w->crc, n);
    for (int64_t i = 0; i < n; i++) {
        free(w->paths[i]);
        w->paths[i] = NULL;
    }
    w->file = w->images = -1;
}

static void open_shard(AprepWriter *w, int s) {
    apt_path_join(w->final, sizeof w->final, w->dir, w->shard_files[s]);
    snprintf(w->part, sizeof w->part, "%s.part", w->final);
    const int64_t rows = w->shard_sizes[s];
    w->cur = s;
    w->rows = rows;
    w->row = 0;
    w->flushed = 0;
    w->offsets[0] = 0;
    apt_h5_lock();
    w->file = apt_h5_create(w->part);
    if (w->file < 0) apt_user_error("%s: cannot create shard file", w->part); // exits holding the lock
    hid_t dcpl = apt_h5_dcpl(), sp;
    if (w->storage == APT_STORAGE_RAW) {
        hsize_t dims[4] = {(hsize_t)rows, (hsize_t)w->H, (hsize_t)w->W, (hsize_t)w->C};
        hsize_t chunk[4] = {1, (hsize_t)w->H, (hsize_t)w->W, (hsize_t)w->C};
        hsize_t maxd[4] = {rows ? (hsize_t)rows : H5S_UNLIMITED, dims[1], dims[2], dims[3]};
        sp = H5Screate_simple(4, dims, maxd);
        H5_CHECK(H5Pset_chunk(dcpl, 4, chunk));
    } else {
        hsize_t dims[1] = {0}, maxd[1] = {H5S_UNLIMITED}, chunk[1] = {JPEG_CHUNK};
        sp = H5Screate_simple(1, dims, maxd);
        H5_CHECK(H5Pset_chunk(dcpl, 1, chunk));
    }
    H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER)); // every byte is written exactly once
    w->images = H5Dcreate2(w->file, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    apt_h5_unlock();
    if (w->images < 0) apt_user_error("%s: cannot create /images", w->part);
}

static void next_row(AprepWriter *w, int32_t label) {
    APT_CHECK(w->written < w->n, "more samples than announced (%lld)", (long long)w->n);
    APT_CHECK(label >= 0 && label < w->num_classes, "label %d outside [0, %d)", label, w->num_classes);
    if (w->cur < 0 || w->row == w->rows) {
        close_shard(w);
        open_shard(w, w->cur + 1);
    }
}

static void finish_row(AprepWriter *w, int32_t label, const char *path) {
    w->paths[w->row] = strdup(path ? path : "");
    w->labels[w->written] = label;
    w->row++;
    w->written++;
}

void aprep_writer_add_encoded(AprepWriter *w, const uint8_t *data, size_t len, int h, int wd, int32_t label,
                              const char *path) {
    APT_CHECK(w->storage == APT_STORAGE_JPEG, "encoded rows need jpeg storage");
    next_row(w, label);
    if (w->block_len + len > w->block_cap) flush_block(w);
    if (len > w->block_cap) { // one image larger than the buffer: grow it (rare; set-up cost only)
        w->block_cap = len;
        w->block = realloc(w->block, len);
        APT_CHECK(w->block, "out of memory");
    }
    memcpy(w->block + w->block_len, data, len);
    w->block_len += len;
    const int64_t r = w->row;
    w->offsets[r + 1] = w->offsets[r] + len;
    w->rowbytes[r] = len;
    w->crc[r] = (uint32_t)crc32(0L, data, (uInt)len);
    w->sizes[2 * r] = h;
    w->sizes[2 * r + 1] = wd;
    finish_row(w, label, path);
}

void aprep_writer_add(AprepWriter *w, const uint8_t *image, int32_t label, const char *path) {
    const size_t bytes = (size_t)w->H * w->W * w->C;
    if (w->storage == APT_STORAGE_JPEG) { // pixels into a jpeg dataset: encode them
        if (!w->tj) w->tj = tjInitCompress();
        unsigned char *jpg = NULL;
        unsigned long n = 0;
        if (tjCompress2(w->tj, image, w->W, 0, w->H, w->C == 1 ? TJPF_GRAY : TJPF_RGB, &jpg, &n,
                        w->C == 1 ? TJSAMP_GRAY : TJSAMP_420, w->quality, TJFLAG_ACCURATEDCT) != 0)
            apt_fatal(__FILE__, __LINE__, "JPEG encode: %s", tjGetErrorStr2(w->tj));
        aprep_writer_add_encoded(w, jpg, n, w->H, w->W, label, path);
        tjFree(jpg);
        return;
    }
    next_row(w, label);
    if (w->in_block == 0) w->block_row0 = w->row;
    memcpy(w->block + (size_t)w->in_block * bytes, image, bytes);
    w->rowbytes[w->row] = bytes;
    w->crc[w->row] = (uint32_t)crc32(0L, image, (uInt)bytes);
    w->in_block++;
    finish_row(w, label, path);
    if (w->in_block == WRITE_BLOCK) flush_block(w);
}

// Check the complete shard s left by an interrupted run: rows, labels equal to the plan, checksums present.
// Returns 0 and sets its hash, or -1 (the caller rewrites it).
static int resume_shard(AprepWriter *w, int s, const int32_t *labels) {
    char path[4096];
    apt_path_join(path, sizeof path, w->dir, w->shard_files[s]);
    if (!apt_path_exists(path)) return -1;
    const int64_t n = w->shard_sizes[s];
    int32_t *lab = apt_malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    uint32_t *crc = apt_malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    uint64_t *off = apt_malloc((size_t)(n + 1) * sizeof(uint64_t));
    uint64_t *rb = apt_malloc((size_t)(n ? n : 1) * sizeof(uint64_t));
    apt_h5_lock();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int ok = f >= 0 && apt_h5_read_1d(f, "/labels", H5T_NATIVE_INT32, n, lab) == 0 &&
             apt_h5_read_1d(f, "/checksums", H5T_NATIVE_UINT32, n, crc) == 0;
    if (ok && w->storage == APT_STORAGE_JPEG)
        ok = apt_h5_read_1d(f, "/offsets", H5T_NATIVE_UINT64, n + 1, off) == 0;
    if (f >= 0) H5Fclose(f);
    apt_h5_unlock();
    const int64_t first = (int64_t)s * w->shard_size;
    for (int64_t i = 0; ok && i < n; i++) {
        ok = lab[i] == labels[first + i];
        rb[i] = w->storage == APT_STORAGE_JPEG ? off[i + 1] - off[i] : (uint64_t)w->H * w->W * w->C;
    }
    if (ok) w->shard_hash[s] = apt_shard_hash(lab, rb, crc, n);
    free(lab);
    free(crc);
    free(off);
    free(rb);
    return ok ? 0 : -1;
}

int64_t aprep_writer_resume(AprepWriter *w, const int32_t *labels) {
    APT_CHECK(w->written == 0, "resume after rows were added");
    int s = 0;
    while (s < w->num_shards && w->shard_sizes[s] > 0 && resume_shard(w, s, labels) == 0)
        s++;
    int64_t done = (int64_t)s * w->shard_size;
    if (done > w->n) done = w->n;
    for (int t = s; t < w->num_shards; t++) { // later shards are rewritten from scratch
        char path[4096];
        apt_path_join(path, sizeof path, w->dir, w->shard_files[t]);
        unlink(path);
    }
    memcpy(w->labels, labels, (size_t)done * sizeof(int32_t));
    w->written = done;
    w->cur = s - 1;
    w->row = w->rows = 0;
    return done;
}

void aprep_writer_finish(AprepWriter *w) {
    APT_CHECK(w->written == w->n, "%lld of %lld samples written", (long long)w->written, (long long)w->n);
    if (w->n == 0) open_shard(w, 0); // an empty split still gets its (empty) shard
    close_shard(w);
    char fname[128], path[4096], part[4200];
    snprintf(fname, sizeof fname, "%s.h5", w->split);
    apt_path_join(path, sizeof path, w->dir, fname);
    snprintf(part, sizeof part, "%s.part", path);
    int H = w->H, W = w->W;
    apt_h5_lock();
    hid_t f = apt_h5_create(part);
    int ok = f >= 0;
    ok = ok && apt_h5_attr_write_i64(f, "format_version", APT_DATA_FORMAT_VERSION, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_str(f, "name", w->name) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "num_samples", w->n, H5T_STD_I64LE) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "num_classes", w->num_classes, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "height", H, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "width", W, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_i64(f, "channels", w->C, H5T_STD_I32LE) == 0;
    ok = ok && apt_h5_attr_write_str(f, "storage", apt_storage_name(w->storage)) == 0;
    ok = ok && apt_h5_write_strings(f, "shards", w->shard_files, w->num_shards) == 0;
    ok = ok && apt_h5_write_strings(f, "class_names", w->class_names, w->num_classes) == 0;
    ok = ok && apt_h5_write_strings(f, "skipped", w->skipped, w->num_skipped) == 0;
    hsize_t ds[1] = {(hsize_t)w->num_shards}, dn[1] = {(hsize_t)w->n};
    ok = ok && apt_h5_write_nd(f, "shard_sizes", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, ds, w->shard_sizes) == 0;
    ok =
        ok && apt_h5_write_nd(f, "shard_hashes", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, ds, w->shard_hash) == 0;
    ok = ok && apt_h5_write_nd(f, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dn, w->labels) == 0;
    if (f >= 0) ok = H5Fclose(f) >= 0 && ok;
    apt_h5_unlock();
    if (!ok || apt_rename_durable(part, path) != 0)
        apt_user_error("%s: writing the manifest failed (disk full?)", path);
    for (int k = 0; k < w->num_classes; k++)
        free(w->class_names[k]);
    for (int s = 0; s < w->num_shards; s++)
        free(w->shard_files[s]);
    for (int64_t i = 0; i < w->num_skipped; i++)
        free(w->skipped[i]);
    if (w->tj) tjDestroy(w->tj);
    free(w->skipped);
    free(w->class_names);
    free(w->shard_files);
    free(w->shard_sizes);
    free(w->shard_hash);
    free(w->labels);
    free(w->block);
    free(w->paths);
    free(w->offsets);
    free(w->rowbytes);
    free(w->crc);
    free(w->sizes);
    free(w);
}

// ---- output directory: OUT.partial beside OUT, renamed onto OUT when complete ----
//
// Completed shards stay in OUT.partial when a run is interrupted; `--resume` continues it, provided the
// job (source list and options, recorded in OUT.partial/.aprep-job, kept in OUT as provenance) is the
// same. OUT itself appears only
// through the final rename, so it never holds a half-written dataset.

void aprep_out_begin(const char *out, int resume, const char *job, char *partial, size_t cap) {
    if (apt_path_exists(out))
        apt_user_error("%s: already exists; remove it first (aprep never overwrites a dataset)", out);
    snprintf(partial, cap, "%s.partial", out);
    char jobfile[4200];
    snprintf(jobfile, sizeof jobfile, "%s/.aprep-job", partial);
    if (apt_path_exists(partial)) {
        if (!resume)
            apt_user_error("%s: an interrupted run left it; add --resume to continue it, or remove it",
                           partial);
        FILE *f = fopen(jobfile, "r");
        char buf[512] = "";
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = 0;
        if (strcmp(buf, job) != 0)
            apt_user_error("%s: was started with other inputs or options; remove it to start afresh",
                           partial);
        apt_info("aprep: resuming %s", partial);
        return;
    }
    if (apt_mkdir_p(partial) != 0) apt_user_error("%s: cannot create directory", partial);
    AptAtomicFile a;
    if (apt_atomic_open(&a, jobfile, "w") != 0) apt_user_error("%s: cannot write", jobfile);
    fputs(job, a.f);
    if (apt_atomic_commit(&a) != 0) apt_user_error("%s: cannot write", jobfile);
}

void aprep_out_commit(const char *partial, const char *out) {
    if (apt_rename_durable(partial, out) != 0) apt_user_error("%s: cannot rename %s onto it", out, partial);
}
