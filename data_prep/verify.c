// verify.c — `aprep verify DIR`: load every split's manifest, then re-read every shard: /images layout,
// /labels equal to the manifest's, /paths present, every row readable and equal to its CRC-32 (format 2),
// every jpeg row decodable, each shard's content hash equal to the manifest's. The first problem ends the
// run with one line naming the shard (and row); success prints one summary line per split.
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/timer.h"
#include "h5/h5check.h"
#include "h5/h5strings.h"
#include "data/image.h"
#include "data/shard_reader.h"

#include <turbojpeg.h>

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int is_shard_name(const char *n, size_t len) { // "<split>-NNNNN.h5"
    if (len < 10) return 0;
    const char *p = n + len - 9;
    if (p[0] != '-') return 0;
    for (int i = 1; i <= 5; i++)
        if (!isdigit((unsigned char)p[i])) return 0;
    return 1;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

int aprep_list_splits(const char *dir, char names[][64], int cap) {
    DIR *d = opendir(dir);
    if (!d) apt_user_error("%s: not a directory", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || len - 3 >= 64 || strcmp(e->d_name + len - 3, ".h5") || is_shard_name(e->d_name, len))
            continue;
        if (n < cap) {
            memcpy(names[n], e->d_name, len - 3);
            names[n][len - 3] = 0;
            n++;
        }
    }
    closedir(d);
    qsort(names, (size_t)n, 64, cmp_name);
    return n;
}

// Returns the shard's /labels (malloc'd), checked against the manifest.
static int32_t *verify_shard_meta(const AptManifest *m, const AptShardReader *r, int s) {
    const char *path = apt_shard_reader_path(r, s);
    const int64_t rows = m->shard_sizes[s];
    if (!apt_path_exists(path)) apt_user_error("%s: shard file missing", path);
    apt_h5_lock();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        apt_user_error("%s: cannot open shard as HDF5 (truncated or not an HDF5 file)", path);
    }
    int32_t *lab = apt_malloc((size_t)(rows ? rows : 1) * sizeof(int32_t));
    int lab_ok = apt_h5_read_1d(f, "/labels", H5T_NATIVE_INT32, rows, lab) == 0;
    int64_t npaths = apt_h5_dataset_len(f, "/paths");
    H5Fclose(f);
    apt_h5_unlock();
    if (!lab_ok) apt_user_error("%s: missing /labels or its length is not %lld", path, (long long)rows);
    if (npaths != rows) apt_user_error("%s: missing /paths or its length is not %lld", path, (long long)rows);
    for (int64_t i = 0; i < rows; i++)
        if (lab[i] != m->labels[m->shard_start[s] + i])
            apt_user_error("%s: row %lld: label %d but the manifest says %d", path, (long long)i, lab[i],
                           m->labels[m->shard_start[s] + i]);
    return lab;
}

int aprep_verify(const char *dir) {
    double t0 = apt_time_now();
    char splits[64][64];
    if (!apt_is_dir(dir)) apt_user_error("%s: dataset directory not found", dir);
    int ns = aprep_list_splits(dir, splits, 64);
    if (ns == 0) apt_user_error("%s: no split manifest (<split>.h5) found", dir);
    for (int k = 0; k < ns; k++) {
        AptManifest *m = apt_manifest_load(dir, splits[k]);
        AptShardReader *r = apt_shard_reader_create(m);
        const size_t rb = apt_shard_reader_row_bytes(r);
        uint8_t *row = apt_malloc(rb ? rb : 1), *enc = NULL, *dec = NULL;
        size_t enc_cap = 0, dec_cap = 0, len;
        tjhandle tj = tjInitDecompress();
        uint64_t checksum = 1469598103934665603ull; // FNV-1a over all stored bytes, printed for comparisons
        int64_t bytes = 0;
        for (int s = 0; s < m->num_shards; s++) {
            int32_t *lab = verify_shard_meta(m, r, s);
            for (int64_t i = m->shard_start[s]; i < m->shard_start[s + 1]; i++) {
                const uint8_t *data = row;
                size_t n = rb;
                if (m->storage == APT_STORAGE_JPEG) { // CRC checked by the reader, then a full decode
                    int h, w, dh, dw;
                    char err[256];
                    apt_shard_reader_read_encoded(r, i, &enc, &enc_cap, &len, &h, &w);
                    if (apt_jpeg_decode_scaled(tj, enc, len, m->channels, 1, &dec, &dec_cap, &dh, &dw, err,
                                               sizeof err) != 0 ||
                        dh != h || dw != w)
                        apt_user_error("%s: row %lld: %s", apt_shard_reader_path(r, s),
                                       (long long)(i - m->shard_start[s]),
                                       dh != h || dw != w ? "decoded size differs from /sizes" : err);
                    data = enc;
                    n = len;
                } else {
                    apt_shard_reader_read(r, i, row);
                }
                for (size_t j = 0; j < n; j++)
                    checksum = (checksum ^ data[j]) * 1099511628211ull;
                bytes += (int64_t)n;
            }
            if (m->shard_hash && apt_shard_reader_hash(r, s, lab) != m->shard_hash[s])
                apt_user_error(
                    "%s: content hash differs from the manifest's /shard_hashes[%d] (shard replaced or "
                    "manifest damaged: re-run aprep)",
                    apt_shard_reader_path(r, s), s);
            free(lab);
            apt_shard_reader_close(r, s); // one shard's tables at a time (3.3M rows: 263 -> ~40 MiB)
        }
        tjDestroy(tj);
        free(enc);
        free(dec);
        int empty = 0;
        for (int c = 0; c < m->num_classes; c++)
            empty += m->class_count[c] == 0;
        printf(
            "%s: ok: %lld samples, %d classes%s, %dx%dx%d %s, %d shards, %.1f MB, content fnv1a %016llx%s\n",
            m->path, (long long)m->num_samples, m->num_classes, empty ? " (some without samples)" : "",
            m->height, m->width, m->channels, apt_storage_name(m->storage), m->num_shards, bytes / 1e6,
            (unsigned long long)checksum, m->shard_hash ? ", checksums and shard hashes match" : "");
        free(row);
        apt_shard_reader_destroy(r);
        apt_manifest_free(m);
    }
    printf("%s: verified %d split(s) in %.1f s\n", dir, ns, apt_time_now() - t0);
    return 0;
}
