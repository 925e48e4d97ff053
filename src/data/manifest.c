// manifest.c — read and validate DIR/<split>.h5 (DESIGN §4): attributes, /shards, /shard_sizes,
// /class_names, /labels. Every problem is a user error naming the manifest file.
#include "data/manifest.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "h5/h5check.h"
#include "h5/h5strings.h"

#include <stdlib.h>
#include <string.h>

const char *apt_storage_name(AptStorage s) {
    return s == APT_STORAGE_JPEG ? "jpeg" : "raw";
}

static int64_t attr_int(hid_t f, const char *path, const char *name, int64_t lo, int64_t hi) {
    int64_t v = 0;
    if (apt_h5_attr_read_i64(f, name, &v) != 0) {
        apt_user_error("%s: missing or non-integer attribute '%s' (not an aprep manifest?)", path, name);
    }
    if (v < lo || v > hi) {
        apt_user_error("%s: attribute '%s' = %lld out of range [%lld, %lld]", path, name, (long long)v,
                       (long long)lo, (long long)hi);
    }
    return v;
}

// User errors exit holding the HDF5 lock (see h5check.h).
#define MANIFEST_FAIL(...) apt_user_error(__VA_ARGS__)

AptManifest *apt_manifest_load(const char *dir, const char *split) {
    AptManifest *m = apt_calloc(1, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    snprintf(m->split, sizeof m->split, "%s", split);
    char fname[128];
    snprintf(fname, sizeof fname, "%s.h5", split);
    apt_path_join(m->path, sizeof m->path, dir, fname);
    const char *path = m->path;
    if (!apt_is_dir(dir)) apt_user_error("%s: dataset directory not found (prepare it with aprep)", dir);
    if (!apt_path_exists(path))
        apt_user_error("%s: manifest not found (no split '%s' in %s?)", path, split, dir);

    apt_h5_lock();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        apt_user_error("%s: cannot open as HDF5 (truncated or not an HDF5 file)", path);
    }
    m->format_version = (int)attr_int(f, path, "format_version", 1, APT_DATA_FORMAT_VERSION);
    m->num_samples = attr_int(f, path, "num_samples", 0, INT32_MAX);
    m->num_classes = (int)attr_int(f, path, "num_classes", 1, INT32_MAX);
    m->height = (int)attr_int(f, path, "height", 0, 1 << 16);
    m->width = (int)attr_int(f, path, "width", 0, 1 << 16);
    m->channels = (int)attr_int(f, path, "channels", 1, 4);
    char storage[32];
    if (apt_h5_attr_read_str(f, "storage", storage, sizeof storage) != 0)
        MANIFEST_FAIL("%s: missing string attribute 'storage'", path);
    if (!strcmp(storage, "raw"))
        m->storage = APT_STORAGE_RAW;
    else if (!strcmp(storage, "jpeg"))
        m->storage = APT_STORAGE_JPEG;
    else
        MANIFEST_FAIL("%s: attribute storage = '%s', expected raw or jpeg", path, storage);
    if (m->format_version < 2 && m->storage != APT_STORAGE_RAW)
        MANIFEST_FAIL("%s: format_version %d with storage %s: re-run aprep", path, m->format_version,
                      storage);
    if (m->storage == APT_STORAGE_RAW && (m->height < 1 || m->width < 1))
        MANIFEST_FAIL("%s: raw storage needs height and width >= 1 (got %dx%d)", path, m->height, m->width);
    if (apt_h5_attr_read_str(f, "name", m->name, sizeof m->name) != 0)
        MANIFEST_FAIL("%s: missing string attribute 'name'", path);

    int64_t S = apt_h5_dataset_len(f, "/shards");
    if (S < 1) MANIFEST_FAIL("%s: missing or empty dataset /shards", path);
    m->num_shards = (int)S;
    if (apt_h5_read_strings(f, "/shards", S, &m->shards) != 0)
        MANIFEST_FAIL("%s: /shards is not a string dataset", path);
    m->shard_sizes = apt_malloc((size_t)S * sizeof(int64_t));
    m->shard_start = apt_malloc((size_t)(S + 1) * sizeof(int64_t));
    if (apt_h5_read_1d(f, "/shard_sizes", H5T_NATIVE_INT64, S, m->shard_sizes) != 0)
        MANIFEST_FAIL("%s: missing dataset /shard_sizes or its length is not %lld", path, (long long)S);
    m->shard_start[0] = 0;
    for (int s = 0; s < S; s++) {
        if (m->shard_sizes[s] < 0) MANIFEST_FAIL("%s: /shard_sizes[%d] is negative", path, s);
        m->shard_start[s + 1] = m->shard_start[s] + m->shard_sizes[s];
    }
    if (m->shard_start[S] != m->num_samples)
        MANIFEST_FAIL("%s: shard sizes add up to %lld but num_samples = %lld", path,
                      (long long)m->shard_start[S], (long long)m->num_samples);
    if (apt_h5_read_strings(f, "/class_names", m->num_classes, &m->class_names) != 0)
        MANIFEST_FAIL("%s: missing dataset /class_names or its length is not num_classes = %d", path,
                      m->num_classes);
    m->labels = apt_malloc((size_t)(m->num_samples ? m->num_samples : 1) * sizeof(int32_t));
    if (apt_h5_read_1d(f, "/labels", H5T_NATIVE_INT32, m->num_samples, m->labels) != 0)
        MANIFEST_FAIL("%s: missing dataset /labels or its length is not num_samples = %lld", path,
                      (long long)m->num_samples);
    if (m->format_version >= 2) {
        m->shard_hash = apt_malloc((size_t)S * sizeof(uint64_t));
        if (apt_h5_read_1d(f, "/shard_hashes", H5T_NATIVE_UINT64, S, m->shard_hash) != 0)
            MANIFEST_FAIL("%s: missing dataset /shard_hashes or its length is not %lld", path, (long long)S);
        int64_t ns = apt_h5_dataset_len(f, "/skipped");
        if (ns < 0 || ns > m->num_samples + (1 << 30) ||
            apt_h5_read_strings(f, "/skipped", ns, &m->skipped) != 0)
            MANIFEST_FAIL("%s: missing or unreadable dataset /skipped", path);
        m->num_skipped = ns;
    }
    H5Fclose(f);
    apt_h5_unlock();

    m->class_count = apt_calloc((size_t)m->num_classes, sizeof(int64_t));
    for (int64_t i = 0; i < m->num_samples; i++) {
        int32_t y = m->labels[i];
        if (y < 0 || y >= m->num_classes)
            apt_user_error("%s: /labels row %lld: label %d out of range [0, %d)", path, (long long)i, y,
                           m->num_classes);
        m->class_count[y]++;
    }
    return m;
}

void apt_manifest_free(AptManifest *m) {
    if (!m) return;
    apt_h5_free_strings(m->shards, m->num_shards);
    apt_h5_free_strings(m->class_names, m->num_classes);
    free(m->shard_sizes);
    free(m->shard_start);
    free(m->labels);
    free(m->class_count);
    free(m->shard_hash);
    apt_h5_free_strings(m->skipped, m->num_skipped);
    free(m);
}

int apt_manifest_locate(const AptManifest *m, int64_t i, int64_t *row) {
    APT_CHECK(i >= 0 && i < m->num_samples, "sample %lld outside [0, %lld)", (long long)i,
              (long long)m->num_samples);
    int lo = 0, hi = m->num_shards - 1; // last s with shard_start[s] <= i (skips empty shards)
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (m->shard_start[mid] <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    while (m->shard_sizes[lo] == 0)
        lo++; // cannot run past the end: i < N
    *row = i - m->shard_start[lo];
    return lo;
}

uint64_t apt_shard_hash(const int32_t *labels, const uint64_t *row_bytes, const uint32_t *crc, int64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < n; i++) {
        uint8_t b[16];
        uint32_t y = (uint32_t)labels[i];
        for (int k = 0; k < 4; k++)
            b[k] = (uint8_t)(y >> (8 * k));
        for (int k = 0; k < 8; k++)
            b[4 + k] = (uint8_t)(row_bytes[i] >> (8 * k));
        for (int k = 0; k < 4; k++)
            b[12 + k] = (uint8_t)(crc[i] >> (8 * k));
        for (int k = 0; k < 16; k++)
            h = (h ^ b[k]) * 1099511628211ull;
    }
    return h;
}
