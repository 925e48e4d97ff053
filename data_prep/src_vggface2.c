// src_vggface2.c — VGGFace2: ROOT/train_list.txt and ROOT/test_list.txt hold `<identity>/<file>.jpg`
// relative to ROOT/train and ROOT/test; the class is the identity directory. When
// ROOT/bb_landmark/loose_bb_{train,test}.csv exist (rows `"n000002/0001_01",X,Y,W,H` after a header), each
// image is cropped to its loose box grown by --bbox-margin (a fraction of the box size on every side,
// default 0: the loose boxes already include some context), then stored (jpeg storage re-encodes the crop).
#define _GNU_SOURCE
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    float box[4];
} Box;

static int cmp_box(const void *a, const void *b) {
    return strcmp(((const Box *)a)->name, ((const Box *)b)->name);
}

static Box *read_boxes(const char *csv, int64_t *n) {
    FILE *f = fopen(csv, "r");
    *n = 0;
    if (!f) return NULL;
    int64_t cap = 1024, lineno = 0;
    Box *v = apt_malloc((size_t)cap * sizeof *v);
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) >= 0) {
        lineno++;
        if (lineno == 1 && strstr(line, "NAME_ID")) continue; // header
        char name[1024];
        float x, y, w, h;
        char *p = line;
        while (*p == ' ' || *p == '"')
            p++;
        char *comma = strchr(p, ',');
        if (!comma) {
            if (*p == '\n' || *p == '\r' || !*p) continue;
            apt_user_error("%s:%lld: expected NAME_ID,X,Y,W,H", csv, (long long)lineno);
        }
        size_t len = (size_t)(comma - p);
        while (len && p[len - 1] == '"')
            len--;
        if (len >= sizeof name || sscanf(comma + 1, "%f,%f,%f,%f", &x, &y, &w, &h) != 4)
            apt_user_error("%s:%lld: expected NAME_ID,X,Y,W,H", csv, (long long)lineno);
        memcpy(name, p, len);
        name[len] = 0;
        if (*n == cap) {
            cap *= 2;
            v = realloc(v, (size_t)cap * sizeof *v);
            APT_CHECK(v, "out of memory");
        }
        v[*n].name = strdup(name);
        v[*n].box[0] = x;
        v[*n].box[1] = y;
        v[*n].box[2] = w;
        v[*n].box[3] = h;
        (*n)++;
    }
    free(line);
    fclose(f);
    qsort(v, (size_t)*n, sizeof *v, cmp_box);
    return v;
}

// Attach each sample's box (looked up by its path under dir without the extension), grown by margin.
static void attach_boxes(AprepSplit *s, const char *dir, const char *csv, double margin) {
    int64_t nb;
    Box *boxes = read_boxes(csv, &nb);
    if (!boxes) return;
    s->bbox = apt_malloc((size_t)(s->n ? s->n : 1) * sizeof *s->bbox);
    const size_t dl = strlen(dir);
    int64_t missing = 0;
    for (int64_t i = 0; i < s->n; i++) {
        char key[4096];
        const char *rel = s->paths[i] + (strncmp(s->paths[i], dir, dl) == 0 ? dl + 1 : 0);
        snprintf(key, sizeof key, "%s", rel);
        char *dot = strrchr(key, '.');
        if (dot && !strchr(dot, '/')) *dot = 0;
        Box k = {key, {0}};
        Box *b = bsearch(&k, boxes, (size_t)nb, sizeof *boxes, cmp_box);
        if (!b) {
            s->bbox[i][2] = s->bbox[i][3] = 0; // no box: the whole image
            missing++;
            continue;
        }
        const float w = b->box[2], h = b->box[3];
        s->bbox[i][0] = (float)(b->box[0] - margin * w);
        s->bbox[i][1] = (float)(b->box[1] - margin * h);
        s->bbox[i][2] = (float)(w * (1 + 2 * margin));
        s->bbox[i][3] = (float)(h * (1 + 2 * margin));
    }
    if (missing)
        apt_warn("aprep: %s: no box for %lld of %lld images (kept whole)", csv, (long long)missing,
                 (long long)s->n);
    for (int64_t i = 0; i < nb; i++)
        free(boxes[i].name);
    free(boxes);
}

int aprep_vggface2(const char *root, const char *out, const AprepOptions *o) {
    if (!apt_is_dir(root)) apt_user_error("%s: not a directory", root);
    AprepSplit s[2];
    static const char *split[2] = {"train", "test"};
    char list[4096], dir[4096], name[64], csv[4096];
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%s_list.txt", split[k]);
        apt_path_join(list, sizeof list, root, name);
        apt_path_join(dir, sizeof dir, root, split[k]);
        aprep_read_list(dir, list, split[k], &s[k]);
        snprintf(name, sizeof name, "bb_landmark/loose_bb_%s.csv", split[k]);
        apt_path_join(csv, sizeof csv, root, name);
        attach_boxes(&s[k], dir, csv, o->bbox_margin);
    }
    aprep_write_decoded(out, "vggface2", s, 2, o);
    aprep_split_free(&s[0]);
    aprep_split_free(&s[1]);
    return 0;
}
