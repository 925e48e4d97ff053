// verify.c — `aprep verify DIR`: load every split's manifest, then re-read every shard: /images layout,
// /labels equal to the manifest's, /paths present, every row readable. The first problem ends the run
// with one line naming the shard (and row); success prints one summary line per split.
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/timer.h"
#include "data/h5check.h"
#include "data/h5strings.h"
#include "data/shard_reader.h"

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

static void verify_shard_meta(const AptManifest *m, const AptShardReader *r, int s) {
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
    free(lab);
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
        uint8_t *row = apt_malloc(apt_shard_reader_row_bytes(r) ? apt_shard_reader_row_bytes(r) : 1);
        uint64_t checksum = 1469598103934665603ull; // FNV-1a over all pixels, printed for comparisons
        const size_t rb = apt_shard_reader_row_bytes(r);
        for (int s = 0; s < m->num_shards; s++) {
            verify_shard_meta(m, r, s);
            for (int64_t i = m->shard_start[s]; i < m->shard_start[s + 1]; i++) {
                apt_shard_reader_read(r, i, row);
                for (size_t j = 0; j < rb; j++)
                    checksum = (checksum ^ row[j]) * 1099511628211ull;
            }
        }
        int empty = 0;
        for (int c = 0; c < m->num_classes; c++)
            empty += m->class_count[c] == 0;
        printf("%s: ok: %lld samples, %d classes%s, %dx%dx%d %s, %d shards, pixel fnv1a %016llx\n", m->path,
               (long long)m->num_samples, m->num_classes, empty ? " (some without samples)" : "", m->height,
               m->width, m->channels, apt_storage_name(m->storage), m->num_shards,
               (unsigned long long)checksum);
        free(row);
        apt_shard_reader_destroy(r);
        apt_manifest_free(m);
    }
    printf("%s: verified %d split(s) in %.1f s\n", dir, ns, apt_time_now() - t0);
    return 0;
}
