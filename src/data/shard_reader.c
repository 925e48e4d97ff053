// shard_reader.c — lazy shard opening and row reads, every HDF5 call under the process-wide lock.
//
// Why not pread the chunks directly and skip the lock: HDF5 1.10's H5Dget_chunk_info_by_coord costs
// ~100 us per chunk (measured: 1.06 s for 10000 chunks), far more than a locked read of one row:
// H5Dread_chunk ~1.8 us, a hyperslab H5Dread ~4 us for a 28x28 image. Reads are a small share of a
// sample's cost (conversion, resizing and decoding run outside the lock).
#define _GNU_SOURCE
#include "data/shard_reader.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "h5/h5check.h"
#include "h5/h5strings.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

typedef struct {
    int state; // 0 closed, 1 open (published with release semantics after every field is set)
    hid_t file, images;
    int direct; // one unfiltered image per chunk: rows are read with H5Dread_chunk (half the cost)
    char path[4096];
    uint32_t *crc;     // [rows] CRC-32 per row (format 2), NULL for format 1
    uint64_t *offsets; // jpeg: [rows + 1] byte offsets into /images
    int32_t *sizes;    // jpeg: [rows, 2] height, width
} Shard;

struct AptShardReader {
    const AptManifest *m;
    size_t row_bytes;
    Shard *shards;
    pthread_mutex_t open_mutex; // serialises lazy opens of this reader
};

// Many shards means many open descriptors: lift the soft limit to the hard one once (harmless if it fails).
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

AptShardReader *apt_shard_reader_create(const AptManifest *m) {
    AptShardReader *r = apt_calloc(1, sizeof *r);
    r->m = m;
    r->row_bytes = m->storage == APT_STORAGE_RAW ? (size_t)m->height * m->width * m->channels : 0;
    r->shards = apt_calloc((size_t)m->num_shards, sizeof(Shard));
    for (int s = 0; s < m->num_shards; s++) {
        r->shards[s].file = r->shards[s].images = -1;
        apt_path_join(r->shards[s].path, sizeof r->shards[s].path, m->dir, m->shards[s]);
    }
    pthread_mutex_init(&r->open_mutex, NULL);
    raise_fd_limit();
    apt_h5_init();
    return r;
}

void apt_shard_reader_destroy(AptShardReader *r) {
    if (!r) return;
    apt_h5_lock();
    for (int s = 0; s < r->m->num_shards; s++) {
        Shard *sh = &r->shards[s];
        if (sh->images >= 0) H5Dclose(sh->images);
        if (sh->file >= 0) H5Fclose(sh->file);
        free(sh->crc);
        free(sh->offsets);
        free(sh->sizes);
    }
    apt_h5_unlock();
    pthread_mutex_destroy(&r->open_mutex);
    free(r->shards);
    free(r);
}

size_t apt_shard_reader_row_bytes(const AptShardReader *r) {
    return r->row_bytes;
}
const char *apt_shard_reader_path(const AptShardReader *r, int s) {
    return r->shards[s].path;
}

// Open and read failures are returned as an AptError, never raised here: loader workers call this code,
// and they must release the HDF5 lock and the open mutex and hand the error to the main thread (DESIGN §5).
#define OPEN_FAIL(...) return apt_error_set(err, APT_EXIT_USER, __VA_ARGS__)

// jpeg storage: /offsets, /sizes into memory, checked against each other and the length of /images.
static int open_jpeg_locked(Shard *sh, int64_t rows, AptError *err) {
    sh->offsets = apt_malloc((size_t)(rows + 1) * sizeof(uint64_t));
    sh->sizes = apt_malloc((size_t)(rows ? rows : 1) * 2 * sizeof(int32_t));
    if (apt_h5_read_1d(sh->file, "/offsets", H5T_NATIVE_UINT64, rows + 1, sh->offsets) != 0)
        OPEN_FAIL("%s: missing or unreadable /offsets (or its length is not %lld)", sh->path,
                  (long long)rows + 1);
    if (apt_h5_dataset_len(sh->file, "/sizes") != rows)
        OPEN_FAIL("%s: missing /sizes or its length is not %lld", sh->path, (long long)rows);
    hid_t d = H5Dopen2(sh->file, "sizes", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int ok =
        H5Sget_simple_extent_ndims(sp) == 2 && H5Sget_simple_extent_dims(sp, dims, NULL) == 2 && dims[1] == 2;
    H5Sclose(sp);
    ok = ok && (rows == 0 || H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, sh->sizes) >= 0);
    H5Dclose(d);
    if (!ok) OPEN_FAIL("%s: /sizes is not [%lld, 2] or cannot be read", sh->path, (long long)rows);
    sp = H5Dget_space(sh->images);
    hsize_t total = 0;
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd == 1) H5Sget_simple_extent_dims(sp, &total, NULL);
    H5Sclose(sp);
    hid_t t = H5Dget_type(sh->images);
    int is_u8 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1;
    H5Tclose(t);
    if (nd != 1 || !is_u8) OPEN_FAIL("%s: /images is not a 1-D uint8 dataset (jpeg storage)", sh->path);
    if (sh->offsets[0] != 0 || sh->offsets[rows] != (uint64_t)total)
        OPEN_FAIL("%s: /offsets do not span /images (%llu bytes)", sh->path, (unsigned long long)total);
    for (int64_t i = 0; i < rows; i++) {
        if (sh->offsets[i + 1] < sh->offsets[i] || sh->offsets[i + 1] - sh->offsets[i] > (1u << 30))
            OPEN_FAIL("%s: row %lld: bad /offsets entry", sh->path, (long long)i);
        if (sh->sizes[2 * i] < 1 || sh->sizes[2 * i] > 65535 || sh->sizes[2 * i + 1] < 1 ||
            sh->sizes[2 * i + 1] > 65535)
            OPEN_FAIL("%s: row %lld: bad /sizes entry %dx%d", sh->path, (long long)i, sh->sizes[2 * i],
                      sh->sizes[2 * i + 1]);
    }
    return 0;
}

// Called with open_mutex and the HDF5 lock held: open the file and check /images against the manifest.
// Returns 0, or -1 with *err set (the caller closes what was opened: shard_close_locked).
static int shard_open_locked(AptShardReader *r, int s, AptError *err) {
    Shard *sh = &r->shards[s];
    const AptManifest *m = r->m;
    const int64_t rows = m->shard_sizes[s];
    if (!apt_path_exists(sh->path)) OPEN_FAIL("%s: shard file missing", sh->path);
    sh->file = H5Fopen(sh->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (sh->file < 0) OPEN_FAIL("%s: cannot open shard as HDF5 (truncated or not an HDF5 file)", sh->path);
    if (H5Lexists(sh->file, "images", H5P_DEFAULT) <= 0)
        OPEN_FAIL("%s: shard has no dataset /images", sh->path);
    // jpeg storage: rows of a few KB packed into 1 MiB chunks. HDF5's default chunk cache (1 MiB per
    // dataset) would pull a row's whole chunk into the cache on every miss, and random training reads miss
    // almost always once a shard spans several chunks: ~1 MiB read and copied per image (the scale
    // rehearsal, tests/bench/RESULTS.md). Without the cache an unfiltered chunk is read in place, the row's
    // bytes only (tests/data/test_jpeg_row_io.c). Raw storage reads whole chunks with H5Dread_chunk anyway.
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (m->storage == APT_STORAGE_JPEG) H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, 1.0);
    sh->images = H5Dopen2(sh->file, "images", dapl);
    H5Pclose(dapl);
    if (sh->images < 0) OPEN_FAIL("%s: cannot open /images", sh->path);
    if (m->format_version >= 2) {
        sh->crc = apt_malloc((size_t)(rows ? rows : 1) * sizeof(uint32_t));
        if (apt_h5_read_1d(sh->file, "/checksums", H5T_NATIVE_UINT32, rows, sh->crc) != 0)
            OPEN_FAIL("%s: missing or unreadable /checksums (or its length is not %lld)", sh->path,
                      (long long)rows);
    }
    if (m->storage == APT_STORAGE_JPEG) {
        if (open_jpeg_locked(sh, rows, err) != 0) return -1;
        __atomic_store_n(&sh->state, 1, __ATOMIC_RELEASE);
        return 0;
    }

    hid_t sp = H5Dget_space(sh->images);
    hsize_t dims[4] = {0};
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd == 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    if (nd != 4 || (int64_t)dims[0] != rows || (int)dims[1] != m->height || (int)dims[2] != m->width ||
        (int)dims[3] != m->channels)
        OPEN_FAIL(
            "%s: /images has shape [%llu, %llu, %llu, %llu] (rank %d), manifest says [%lld, %d, %d, %d]",
            sh->path, (unsigned long long)dims[0], (unsigned long long)dims[1], (unsigned long long)dims[2],
            (unsigned long long)dims[3], nd, (long long)rows, m->height, m->width, m->channels);
    hid_t t = H5Dget_type(sh->images);
    int is_u8 = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1;
    H5Tclose(t);
    if (!is_u8) OPEN_FAIL("%s: /images is not uint8", sh->path);
    hid_t dcpl = H5Dget_create_plist(sh->images);
    hsize_t cd[4] = {0};
    sh->direct = H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_nfilters(dcpl) == 0 &&
                 H5Pget_chunk(dcpl, 4, cd) == 4 && cd[0] == 1 && cd[1] == dims[1] && cd[2] == dims[2] &&
                 cd[3] == dims[3];
    H5Pclose(dcpl);

    __atomic_store_n(&sh->state, 1, __ATOMIC_RELEASE);
    return 0;
}

// A failed open leaves the shard closed, as before the attempt: another read may try (and report) again.
static void shard_close_locked(Shard *sh) {
    if (sh->images >= 0) H5Dclose(sh->images);
    if (sh->file >= 0) H5Fclose(sh->file);
    sh->images = sh->file = -1;
    free(sh->crc);
    free(sh->offsets);
    free(sh->sizes);
    sh->crc = NULL;
    sh->offsets = NULL;
    sh->sizes = NULL;
}

void apt_shard_reader_close(AptShardReader *r, int s) {
    APT_CHECK(s >= 0 && s < r->m->num_shards, "shard %d outside [0, %d)", s, r->m->num_shards);
    Shard *sh = &r->shards[s];
    pthread_mutex_lock(&r->open_mutex);
    apt_h5_lock();
    shard_close_locked(sh);
    __atomic_store_n(&sh->state, 0, __ATOMIC_RELEASE);
    apt_h5_unlock();
    pthread_mutex_unlock(&r->open_mutex);
}

// Row data against its stored CRC-32 (format 2): a damaged byte anywhere in the row is caught here.
static int check_crc(const Shard *sh, int64_t row, const uint8_t *data, size_t n, AptError *err) {
    if (sh->crc && (uint32_t)crc32(0L, data, (uInt)n) != sh->crc[row])
        return apt_error_set(
            err, APT_EXIT_USER,
            "%s: row %lld: checksum mismatch (the stored image is damaged: restore the shard "
            "or re-run aprep)",
            sh->path, (long long)row);
    return 0;
}

// Shard s, opened on first use; NULL with *err set (every lock released) when it cannot be opened.
static Shard *shard_get(AptShardReader *r, int s, AptError *err) {
    Shard *sh = &r->shards[s];
    if (__atomic_load_n(&sh->state, __ATOMIC_ACQUIRE)) return sh;
    int rc = 0;
    pthread_mutex_lock(&r->open_mutex);
    if (!sh->state) {
        apt_h5_lock();
        rc = shard_open_locked(r, s, err);
        if (rc != 0) shard_close_locked(sh);
        apt_h5_unlock();
    }
    pthread_mutex_unlock(&r->open_mutex);
    return rc == 0 ? sh : NULL;
}

// Main-thread callers (verify, info): the error ends the run here.
static Shard *shard_get_or_raise(AptShardReader *r, int s) {
    AptError err = {0};
    Shard *sh = shard_get(r, s, &err);
    if (!sh) apt_error_raise(&err);
    return sh;
}

int apt_shard_reader_try_read(AptShardReader *r, int64_t i, uint8_t *out, AptError *err) {
    int64_t row;
    int s = apt_manifest_locate(r->m, i, &row);
    Shard *sh = shard_get(r, s, err);
    if (!sh) return -1;
    hsize_t start[4] = {(hsize_t)row, 0, 0, 0};
    hsize_t count[4] = {1, (hsize_t)r->m->height, (hsize_t)r->m->width, (hsize_t)r->m->channels};
    apt_h5_lock();
    int ok;
    if (sh->direct) { // the chunk's bytes are the row: no dataspace selection, no type conversion
        uint32_t filters = 0;
        ok = H5Dread_chunk(sh->images, H5P_DEFAULT, start, &filters, out) >= 0;
    } else {
        hid_t fs = H5Dget_space(sh->images);
        hid_t ms = H5Screate_simple(4, count, NULL);
        ok = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dread(sh->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, out) >= 0;
        H5Sclose(ms);
        H5Sclose(fs);
    }
    apt_h5_unlock();
    if (!ok)
        return apt_error_set(err, APT_EXIT_USER,
                             "%s: row %lld: cannot read /images (shard truncated or corrupt?)", sh->path,
                             (long long)row);
    return check_crc(sh, row, out, r->row_bytes, err);
}

void apt_shard_reader_read(AptShardReader *r, int64_t i, uint8_t *out) {
    AptError err = {0};
    if (apt_shard_reader_try_read(r, i, out, &err) != 0) apt_error_raise(&err);
}

int apt_shard_reader_try_read_encoded(AptShardReader *r, int64_t i, uint8_t **buf, size_t *cap, size_t *len,
                                      int *h, int *w, AptError *err) {
    APT_CHECK(r->m->storage == APT_STORAGE_JPEG, "encoded rows need jpeg storage");
    int64_t row;
    int s = apt_manifest_locate(r->m, i, &row);
    Shard *sh = shard_get(r, s, err);
    if (!sh) return -1;
    const uint64_t off = sh->offsets[row], n = sh->offsets[row + 1] - off;
    if (n + 1 > *cap) { // grows to the largest row seen, then stays
        free(*buf);
        *cap = n + 1;
        *buf = apt_malloc(*cap);
    }
    apt_h5_lock();
    int ok = 1;
    if (n > 0) {
        hsize_t start[1] = {off}, count[1] = {n};
        hid_t fs = H5Dget_space(sh->images);
        hid_t ms = H5Screate_simple(1, count, NULL);
        ok = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dread(sh->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, *buf) >= 0;
        H5Sclose(ms);
        H5Sclose(fs);
    }
    apt_h5_unlock();
    if (!ok)
        return apt_error_set(err, APT_EXIT_USER,
                             "%s: row %lld: cannot read /images (shard truncated or corrupt?)", sh->path,
                             (long long)row);
    if (check_crc(sh, row, *buf, (size_t)n, err) != 0) return -1;
    *len = (size_t)n;
    *h = sh->sizes[2 * row];
    *w = sh->sizes[2 * row + 1];
    return 0;
}

void apt_shard_reader_read_encoded(AptShardReader *r, int64_t i, uint8_t **buf, size_t *cap, size_t *len,
                                   int *h, int *w) {
    AptError err = {0};
    if (apt_shard_reader_try_read_encoded(r, i, buf, cap, len, h, w, &err) != 0) apt_error_raise(&err);
}

void apt_shard_reader_size(AptShardReader *r, int64_t i, int *h, int *w) {
    if (r->m->storage != APT_STORAGE_JPEG) {
        *h = r->m->height;
        *w = r->m->width;
        return;
    }
    int64_t row;
    Shard *sh = shard_get_or_raise(r, apt_manifest_locate(r->m, i, &row));
    *h = sh->sizes[2 * row];
    *w = sh->sizes[2 * row + 1];
}

uint64_t apt_shard_reader_hash(AptShardReader *r, int s, const int32_t *labels) {
    Shard *sh = shard_get_or_raise(r, s);
    const int64_t n = r->m->shard_sizes[s];
    if (!sh->crc) return 0;
    uint64_t *rb = apt_malloc((size_t)(n ? n : 1) * sizeof(uint64_t));
    for (int64_t i = 0; i < n; i++)
        rb[i] = sh->offsets ? sh->offsets[i + 1] - sh->offsets[i] : r->row_bytes;
    uint64_t h = apt_shard_hash(labels, rb, sh->crc, n);
    free(rb);
    return h;
}

uint64_t apt_shard_reader_bytes(AptShardReader *r, int s) {
    Shard *sh = shard_get_or_raise(r, s);
    return sh->offsets ? sh->offsets[r->m->shard_sizes[s]] : (uint64_t)r->m->shard_sizes[s] * r->row_bytes;
}

void apt_shard_reader_read_rows(AptShardReader *r, const int64_t *idx, int n, uint8_t *out) {
    for (int k = 0; k < n; k++)
        apt_shard_reader_read(r, idx[k], out + (size_t)k * r->row_bytes);
}
