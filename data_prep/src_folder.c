// src_folder.c — `aprep folder ROOT OUT` (ImageFolder layout); pipeline.c checks and writes the splits.
//
// Layout: ROOT/<split>/<class>/<image> for each split directory named train, test or val that exists;
// if none exists, ROOT/<class>/<image> is the single split `train`. Classes are the sorted directory
// names of each split; images are the files ending in .jpg, .jpeg or .png (any case), sorted by name.
// A class directory without images is a bad input (an empty class cannot be sampled): reported by the
// check pass, dropped with --skip-bad.
#define _GNU_SOURCE
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// ---- ImageFolder scan ----

static int is_image(const char *n) {
    const char *dot = strrchr(n, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Sorted entry names of dir; dirs_only picks subdirectories, otherwise image files.
static char **list_dir(const char *dir, int dirs_only, int *count) {
    DIR *d = opendir(dir);
    if (!d) apt_user_error("%s: cannot open directory", dir);
    int n = 0, cap = 64;
    char **v = apt_malloc((size_t)cap * sizeof *v);
    struct dirent *e;
    char child[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        apt_path_join(child, sizeof child, dir, e->d_name);
        if (dirs_only ? !apt_is_dir(child) : (apt_is_dir(child) || !is_image(e->d_name))) continue;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, (size_t)cap * sizeof *v);
            APT_CHECK(v, "out of memory");
        }
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *count = n;
    return v;
}

static void scan_split(const char *dir, const char *split, AprepSplit *s) {
    memset(s, 0, sizeof *s);
    s->split = split;
    s->class_dir = strdup(dir);
    int K;
    char **classes = list_dir(dir, 1, &K);
    if (K == 0) apt_user_error("%s: no class directories", dir);
    s->num_classes = K;
    s->class_names = classes;
    int64_t cap = 1024;
    s->paths = apt_malloc((size_t)cap * sizeof(char *));
    s->labels = apt_malloc((size_t)cap * sizeof(int32_t));
    char cdir[4096], path[4096];
    for (int k = 0; k < K; k++) {
        apt_path_join(cdir, sizeof cdir, dir, classes[k]);
        int n;
        char **files = list_dir(cdir, 0, &n);
        for (int i = 0; i < n; i++) {
            if (s->n == cap) {
                cap *= 2;
                s->paths = realloc(s->paths, (size_t)cap * sizeof(char *));
                s->labels = realloc(s->labels, (size_t)cap * sizeof(int32_t));
                APT_CHECK(s->paths && s->labels, "out of memory");
            }
            apt_path_join(path, sizeof path, cdir, files[i]);
            s->paths[s->n] = strdup(path);
            s->labels[s->n] = k;
            s->n++;
            free(files[i]);
        }
        free(files);
    }
}

int aprep_folder(const char *root, const char *out, const AprepOptions *o) {
    if (!apt_is_dir(root)) apt_user_error("%s: not a directory", root);
    static const char *names[] = {"train", "test", "val"};
    AprepSplit splits[3];
    int ns = 0;
    char dir[4096];
    for (int k = 0; k < 3; k++) {
        apt_path_join(dir, sizeof dir, root, names[k]);
        if (apt_is_dir(dir)) scan_split(dir, names[k], &splits[ns++]);
    }
    if (ns == 0) scan_split(root, "train", &splits[ns++]);
    aprep_write_decoded(out, "folder", splits, ns, o);
    for (int k = 0; k < ns; k++)
        aprep_split_free(&splits[k]);
    return 0;
}
