// info.c — `aprep info DIR`: per split the samples, classes, storage, stored bytes per image, the image
// size distribution (jpeg: short and long side percentiles, read from the shards' /sizes and /offsets;
// no image is decoded) and the inputs aprep left out.
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "data/shard_reader.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static void percentiles(const char *what, int *v, int64_t n) {
    if (n == 0) return;
    qsort(v, (size_t)n, sizeof *v, cmp_int);
    printf("  %s: min %d  p10 %d  median %d  p90 %d  max %d\n", what, v[0], v[n / 10], v[n / 2],
           v[n * 9 / 10], v[n - 1]);
}

int aprep_info(const char *dir) {
    char splits[64][64];
    if (!apt_is_dir(dir)) apt_user_error("%s: dataset directory not found", dir);
    int ns = aprep_list_splits(dir, splits, 64);
    if (ns == 0) apt_user_error("%s: no split manifest (<split>.h5) found", dir);
    for (int k = 0; k < ns; k++) {
        AptManifest *m = apt_manifest_load(dir, splits[k]);
        int64_t lo = m->num_samples, hi = 0;
        int empty = 0;
        for (int c = 0; c < m->num_classes; c++) {
            if (m->class_count[c] < lo) lo = m->class_count[c];
            if (m->class_count[c] > hi) hi = m->class_count[c];
            empty += m->class_count[c] == 0;
        }
        printf("%s  name=%s format_version=%d\n", m->path, m->name, m->format_version);
        printf("  samples %lld  classes %d (per class min %lld max %lld, empty %d)\n",
               (long long)m->num_samples, m->num_classes, (long long)lo, (long long)hi, empty);
        AptShardReader *r = apt_shard_reader_create(m);
        uint64_t bytes = 0;
        for (int s = 0; s < m->num_shards; s++)
            bytes += apt_shard_reader_bytes(r, s);
        printf("  storage %s  shards %d  %.1f MB stored, %.0f bytes/image\n", apt_storage_name(m->storage),
               m->num_shards, bytes / 1e6, m->num_samples ? (double)bytes / m->num_samples : 0.0);
        if (m->storage == APT_STORAGE_RAW) {
            printf("  images %dx%dx%d (HxWxC), all the same size\n", m->height, m->width, m->channels);
        } else {
            const int64_t n = m->num_samples;
            int *shrt = apt_malloc((size_t)(n ? n : 1) * sizeof(int)),
                *lng = apt_malloc((size_t)(n ? n : 1) * sizeof(int));
            for (int64_t i = 0; i < n; i++) {
                int h, w;
                apt_shard_reader_size(r, i, &h, &w);
                shrt[i] = h < w ? h : w;
                lng[i] = h < w ? w : h;
            }
            if (m->height > 0)
                printf("  images %dx%dx%d (HxWxC) as JPEG; pixels (HxW as stored):\n", m->height, m->width,
                       m->channels);
            else
                printf("  images of varying size, %d channel(s); pixels (HxW as stored):\n", m->channels);
            percentiles("short side", shrt, n);
            percentiles("long side ", lng, n);
            free(shrt);
            free(lng);
        }
        apt_shard_reader_destroy(r);
        printf("  classes:");
        for (int c = 0; c < m->num_classes && c < 10; c++)
            printf(" %s%s", m->class_names[c], c + 1 < m->num_classes ? "," : "");
        if (m->num_classes > 10) printf(" ... (%d more)", m->num_classes - 10);
        printf("\n");
        if (m->num_skipped) {
            printf("  left out by aprep --skip-bad: %lld\n", (long long)m->num_skipped);
            for (int64_t i = 0; i < m->num_skipped && i < 5; i++)
                printf("    %s\n", m->skipped[i]);
        }
        apt_manifest_free(m);
    }
    return 0;
}
