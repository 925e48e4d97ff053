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
#include "data/h5check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    int state; // 0 closed, 1 open (published with release semantics after every field is set)
    hid_t file, images;
    int direct; // one unfiltered image per chunk: rows are read with H5Dread_chunk (half the cost)
    char path[4096];
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
    r->row_bytes = (size_t)m->height * m->width * m->channels;
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

// User errors exit while still holding the HDF5 lock (h5check.h: no other thread is then inside HDF5
// when the library's exit-time cleanup runs).
#define OPEN_FAIL(...) apt_user_error(__VA_ARGS__)

// Called with open_mutex and the HDF5 lock held: open the file and check /images against the manifest.
static void shard_open_locked(AptShardReader *r, int s) {
    Shard *sh = &r->shards[s];
    const AptManifest *m = r->m;
    const int64_t rows = m->shard_sizes[s];
    if (!apt_path_exists(sh->path)) OPEN_FAIL("%s: shard file missing", sh->path);
    sh->file = H5Fopen(sh->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (sh->file < 0) OPEN_FAIL("%s: cannot open shard as HDF5 (truncated or not an HDF5 file)", sh->path);
    if (H5Lexists(sh->file, "images", H5P_DEFAULT) <= 0)
        OPEN_FAIL("%s: shard has no dataset /images", sh->path);
    sh->images = H5Dopen2(sh->file, "images", H5P_DEFAULT);
    if (sh->images < 0) OPEN_FAIL("%s: cannot open /images", sh->path);
    if (m->storage != APT_STORAGE_RAW)
        OPEN_FAIL("%s: jpeg storage is not supported by this reader yet", sh->path);

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
}

static Shard *shard_get(AptShardReader *r, int s) {
    Shard *sh = &r->shards[s];
    if (__atomic_load_n(&sh->state, __ATOMIC_ACQUIRE)) return sh;
    pthread_mutex_lock(&r->open_mutex);
    if (!sh->state) {
        apt_h5_lock();
        shard_open_locked(r, s);
        apt_h5_unlock();
    }
    pthread_mutex_unlock(&r->open_mutex);
    return sh;
}

void apt_shard_reader_read(AptShardReader *r, int64_t i, uint8_t *out) {
    int64_t row;
    int s = apt_manifest_locate(r->m, i, &row);
    Shard *sh = shard_get(r, s);
    hsize_t start[4] = {(hsize_t)row, 0, 0, 0};
    hsize_t count[4] = {1, (hsize_t)r->m->height, (hsize_t)r->m->width, (hsize_t)r->m->channels};
    apt_h5_lock();
    if (sh->direct) { // the chunk's bytes are the row: no dataspace selection, no type conversion
        uint32_t filters = 0;
        if (H5Dread_chunk(sh->images, H5P_DEFAULT, start, &filters, out) < 0) // exits holding the lock
            apt_user_error("%s: row %lld: cannot read /images (shard truncated or corrupt?)", sh->path,
                           (long long)row);
        apt_h5_unlock();
        return;
    }
    hid_t fs = H5Dget_space(sh->images);
    hid_t ms = H5Screate_simple(4, count, NULL);
    int ok = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dread(sh->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, out) >= 0;
    H5Sclose(ms);
    H5Sclose(fs);
    if (!ok)
        apt_user_error("%s: row %lld: cannot read /images (shard truncated or corrupt?)", sh->path,
                       (long long)row);
    apt_h5_unlock();
}

void apt_shard_reader_read_rows(AptShardReader *r, const int64_t *idx, int n, uint8_t *out) {
    for (int k = 0; k < n; k++)
        apt_shard_reader_read(r, idx[k], out + (size_t)k * r->row_bytes);
}
