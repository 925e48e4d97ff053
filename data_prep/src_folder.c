// src_folder.c — `aprep folder ROOT OUT` (ImageFolder layout) and the decode/resize/write pipeline every
// file-based source uses (aprep_write_decoded).
//
// Layout: ROOT/<split>/<class>/<image> for each split directory named train, test or val that exists;
// if none exists, ROOT/<class>/<image> is the single split `train`. Classes are the sorted directory
// names of each split; images are the files ending in .jpg, .jpeg or .png (any case), sorted by name.
// A class directory without images is an error (an empty class cannot be sampled).
#define _GNU_SOURCE
#include "aprep.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/image.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// ---- decode + fit to the dataset geometry ----

static int read_file(const char *path, uint8_t **data, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 0) {
        fclose(f);
        return -1;
    }
    *data = malloc((size_t)len + 1);
    size_t got = *data ? fread(*data, 1, (size_t)len, f) : 0;
    fclose(f);
    if (!*data || got != (size_t)len) {
        free(*data);
        return -1;
    }
    *n = got;
    return 0;
}

// Decode path and fit it to [H, W, C] into out. Returns 0, or -1 with the reason in err.
static int load_fit(const char *path, const AprepOptions *o, int H, int W, int C, uint8_t *out, char *err,
                    size_t cap) {
    uint8_t *data = NULL, *px = NULL;
    size_t n = 0;
    int sh, sw;
    if (read_file(path, &data, &n) != 0) {
        snprintf(err, cap, "cannot read file");
        return -1;
    }
    int rc = apt_image_decode(data, n, C, &px, &sh, &sw, err, cap);
    free(data);
    if (rc != 0) return -1;
    if (o->size_h || (!o->short_side && sh == H && sw == W)) {
        if (sh == H && sw == W) {
            memcpy(out, px, (size_t)H * W * C);
        } else {
            AptResizeWork rw;
            apt_resize_work_init(&rw, sh, sw, H, W, C);
            apt_image_resize(&rw, px, sw * C, sh, sw, out, H, W);
            apt_resize_work_free(&rw);
        }
    } else if (o->short_side) { // short side S, then center crop S x S (torchvision Resize + CenterCrop)
        int rh, rw_;
        apt_image_short_side(sh, sw, o->short_side, &rh, &rw_);
        uint8_t *tmp = apt_malloc((size_t)rh * rw_ * C);
        AptResizeWork rw;
        apt_resize_work_init(&rw, sh, sw, rh, rw_, C);
        apt_image_resize(&rw, px, sw * C, sh, sw, tmp, rh, rw_);
        apt_resize_work_free(&rw);
        int y0 = (rh - H) / 2, x0 = (rw_ - W) / 2;
        for (int y = 0; y < H; y++)
            memcpy(out + (size_t)y * W * C, tmp + ((size_t)(y + y0) * rw_ + x0) * C, (size_t)W * C);
        free(tmp);
    } else {
        snprintf(err, cap, "image is %dx%d but the dataset is %dx%d (use --size to resize)", sh, sw, H, W);
        free(px);
        return -1;
    }
    free(px);
    return 0;
}

typedef struct {
    const AprepSplit *s;
    const AprepOptions *o;
    int H, W, C;
    int64_t first, count; // block of samples
    uint8_t *images;      // [count, H, W, C]
    char (*errs)[256];    // [count], "" when fine
    int tid, T;
} Job;

static void *decode_worker(void *arg) {
    Job *j = arg;
    const size_t bytes = (size_t)j->H * j->W * j->C;
    for (int64_t i = j->tid; i < j->count; i += j->T) {
        j->errs[i][0] = 0;
        if (load_fit(j->s->paths[j->first + i], j->o, j->H, j->W, j->C, j->images + i * bytes, j->errs[i],
                     256) != 0 &&
            !j->errs[i][0])
            snprintf(j->errs[i], 256, "cannot decode");
    }
    return NULL;
}

static void write_split(const char *tmp, const char *name, const AprepSplit *s, const AprepOptions *o) {
    const int C = o->channels;
    int H, W;
    if (o->size_h) {
        H = o->size_h;
        W = o->size_w;
    } else if (o->short_side) {
        H = W = o->short_side;
    } else { // the first image sets the size every other image must have
        if (s->n == 0) apt_user_error("split %s has no images", s->split);
        uint8_t *data = NULL, *px = NULL;
        size_t n = 0;
        char err[256];
        if (read_file(s->paths[0], &data, &n) != 0) apt_user_error("%s: cannot read file", s->paths[0]);
        if (apt_image_decode(data, n, C, &px, &H, &W, err, sizeof err) != 0)
            apt_user_error("%s: %s", s->paths[0], err);
        free(data);
        free(px);
    }
    AprepWriter *w = aprep_writer_create(tmp, name, s->split, s->n, H, W, C, o->storage, o->shard_size,
                                         s->num_classes, s->class_names);
    const int T = o->threads;
    const int64_t block = 64 * (int64_t)T;
    const size_t bytes = (size_t)H * W * C;
    uint8_t *images = apt_malloc((size_t)block * bytes);
    char(*errs)[256] = apt_malloc((size_t)block * 256);
    Job *jobs = apt_calloc((size_t)T, sizeof(Job));
    pthread_t *tids = apt_calloc((size_t)T, sizeof(pthread_t));
    for (int64_t first = 0; first < s->n; first += block) {
        int64_t count = s->n - first < block ? s->n - first : block;
        for (int t = 0; t < T; t++) {
            jobs[t] = (Job){s, o, H, W, C, first, count, images, errs, t, T};
            APT_CHECK(pthread_create(&tids[t], NULL, decode_worker, &jobs[t]) == 0, "pthread_create");
        }
        for (int t = 0; t < T; t++)
            pthread_join(tids[t], NULL);
        for (int64_t i = 0; i < count; i++) {
            if (errs[i][0])
                apt_user_error("%s: %s (split %s, row %lld)", s->paths[first + i], errs[i], s->split,
                               (long long)(first + i));
            aprep_writer_add(w, images + i * bytes, s->labels[first + i], s->paths[first + i]);
        }
    }
    aprep_writer_finish(w);
    free(images);
    free(errs);
    free(jobs);
    free(tids);
    apt_info("aprep: %s: %lld samples, %dx%dx%d, %d classes", s->split, (long long)s->n, H, W, C,
             s->num_classes);
}

void aprep_write_decoded(const char *out, const char *name, AprepSplit *splits, int nsplits,
                         const AprepOptions *o) {
    double t0 = apt_time_now();
    char tmp[4096];
    aprep_out_begin(out, tmp, sizeof tmp);
    for (int k = 0; k < nsplits; k++)
        write_split(tmp, name, &splits[k], o);
    aprep_out_commit(tmp, out);
    apt_info("aprep: wrote %s in %.1f s", out, apt_time_now() - t0);
}

void aprep_split_free(AprepSplit *s) {
    for (int64_t i = 0; i < s->n; i++)
        free(s->paths[i]);
    for (int k = 0; k < s->num_classes; k++)
        free(s->class_names[k]);
    free(s->paths);
    free(s->labels);
    free(s->class_names);
    memset(s, 0, sizeof *s);
}

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
        if (n == 0) apt_user_error("%s: empty class (no .jpg/.jpeg/.png images)", cdir);
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
