// info.c — `aprep info DIR`: splits, sizes, image geometry, class counts (reads manifests only).
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"

#include <stdio.h>

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
        printf("  images %dx%dx%d (HxWxC)  storage %s  shards %d\n", m->height, m->width, m->channels,
               apt_storage_name(m->storage), m->num_shards);
        printf("  classes:");
        for (int c = 0; c < m->num_classes && c < 10; c++)
            printf(" %s%s", m->class_names[c], c + 1 < m->num_classes ? "," : "");
        if (m->num_classes > 10) printf(" ... (%d more)", m->num_classes - 10);
        printf("\n");
        apt_manifest_free(m);
    }
    return 0;
}
