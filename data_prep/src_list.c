// src_list.c — list files: `aprep list ROOT LIST OUT` and the reader the iNaturalist and VGGFace2 sources
// share. A line is `path label` or just `path` (the class is then the path's parent directory name, as in
// the Smooth-AP iNaturalist split files); paths are relative to ROOT; blank lines and lines starting with
// '#' are skipped. Labels are class names: they map to ids 0..K-1 in sorted order (numeric order when
// every label is an integer, so labels already 0..K-1 keep their value).
#define _GNU_SOURCE
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char **names; // [n] label string per sample
    int numeric;
} SortCtx;

static int is_int(const char *s) {
    if (*s == '-' || *s == '+') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static int cmp_label(const char *a, const char *b, int numeric) {
    if (numeric) {
        long long x = atoll(a), y = atoll(b);
        return x < y ? -1 : x > y;
    }
    return strcmp(a, b);
}

static SortCtx g_sort; // qsort has no context argument; used only inside aprep_read_list
static int cmp_idx(const void *a, const void *b) {
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    int c = cmp_label(g_sort.names[i], g_sort.names[j], g_sort.numeric);
    return c ? c : (i < j ? -1 : i > j);
}

void aprep_read_list(const char *root, const char *list, const char *split, AprepSplit *s) {
    memset(s, 0, sizeof *s);
    s->split = split;
    FILE *f = fopen(list, "r");
    if (!f) apt_user_error("%s: cannot open list file", list);
    int64_t cap = 1024, n = 0, lineno = 0;
    s->paths = apt_malloc((size_t)cap * sizeof(char *));
    char **names = apt_malloc((size_t)cap * sizeof(char *));
    char *line = NULL;
    size_t lcap = 0;
    char path[4096];
    while (getline(&line, &lcap, f) >= 0) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#') continue;
        char *tok1 = strtok(p, " \t\r\n"), *tok2 = strtok(NULL, " \t\r\n"), *tok3 = strtok(NULL, " \t\r\n");
        if (tok3)
            apt_user_error("%s:%lld: expected 'path label' or 'path', got more fields", list,
                           (long long)lineno);
        char label[4096];
        if (tok2) {
            snprintf(label, sizeof label, "%s", tok2);
        } else { // class = parent directory name
            snprintf(path, sizeof path, "%s", tok1);
            char *slash = strrchr(path, '/');
            if (!slash || slash == path)
                apt_user_error("%s:%lld: no label and no parent directory to take the class from", list,
                               (long long)lineno);
            *slash = 0;
            char *parent = strrchr(path, '/');
            snprintf(label, sizeof label, "%s", parent ? parent + 1 : path);
        }
        if (n == cap) {
            cap *= 2;
            s->paths = realloc(s->paths, (size_t)cap * sizeof(char *));
            names = realloc(names, (size_t)cap * sizeof(char *));
            APT_CHECK(s->paths && names, "out of memory");
        }
        apt_path_join(path, sizeof path, root, tok1);
        s->paths[n] = strdup(path);
        names[n] = strdup(label);
        n++;
    }
    free(line);
    fclose(f);
    if (n == 0) apt_user_error("%s: no samples", list);
    s->n = n;
    // Map label strings to dense ids in sorted order.
    int numeric = 1;
    for (int64_t i = 0; i < n && numeric; i++)
        numeric = is_int(names[i]);
    int64_t *idx = apt_malloc((size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    g_sort.names = names;
    g_sort.numeric = numeric;
    qsort(idx, (size_t)n, sizeof *idx, cmp_idx);
    s->labels = apt_malloc((size_t)n * sizeof(int32_t));
    s->class_names = apt_malloc((size_t)n * sizeof(char *));
    int K = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t i = idx[r];
        if (r == 0 || cmp_label(names[idx[r - 1]], names[i], numeric) != 0)
            s->class_names[K++] = strdup(names[i]);
        s->labels[i] = K - 1;
    }
    s->num_classes = K;
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(idx);
}

int aprep_list(const char *root, const char *list, const char *out, const AprepOptions *o) {
    if (!apt_is_dir(root)) apt_user_error("%s: not a directory", root);
    AprepSplit s;
    aprep_read_list(root, list, "train", &s);
    aprep_write_decoded(out, "list", &s, 1, o);
    aprep_split_free(&s);
    return 0;
}
