// pipeline.c — what every file-based source (folder, list, inaturalist, vggface2) does with its split
// lists: a check pass over every input, then the write pass into OUT.partial, then the rename onto OUT.
//
// Check pass (all threads): missing or unreadable files, undecodable or truncated images, duplicate
// paths, empty classes and (raw storage without --size) images whose size differs from the first one.
// Every bad input is reported, one line each, then one summary line; without --skip-bad the run stops
// there (exit 1) before anything is written. With --skip-bad they are left out, classes left without
// samples are dropped, and the manifest's /skipped lists what was left out and why.
//
// Write pass: blocks of samples decoded/encoded by --threads workers, written in sample order by one
// writer, so the output is the same for any thread count. Completed shards survive an interruption in
// OUT.partial; --resume continues from them. A progress line (images/s, ETA) every few seconds.
#define _GNU_SOURCE
#include "aprep.h"

#include "core/check.h"
#include "core/log.h"
#include "core/timer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ---- check pass ----

typedef struct {
    const AprepSplit *s;
    const AprepOptions *o;
    int32_t (*hw)[2]; // [n] size of each input
    char **err;       // [n] reason, NULL when fine
    int tid, T;
    int64_t *checked; // shared count of inputs checked (progress line)
    int oom;          // a reason could not be stored: raised by the main thread after the join
} CheckJob;

static void *check_worker(void *arg) {
    CheckJob *j = arg;
    char err[256];
    for (int64_t i = j->tid; i < j->s->n; i += j->T) {
        int h = 0, w = 0;
        if (aprep_check_file(j->s->paths[i], j->s->bbox ? j->s->bbox[i] : NULL, j->o->channels, &h, &w, err,
                             sizeof err) != 0)
            if (!(j->err[i] = strdup(err))) j->oom = 1; // never dropped silently, never raised here
        j->hw[i][0] = h;
        j->hw[i][1] = w;
        __atomic_fetch_add(j->checked, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static int cmp_path_idx(const void *a, const void *b, void *ctx) {
    char **p = ctx;
    int64_t i = *(const int64_t *)a, k = *(const int64_t *)b;
    int c = strcmp(p[i], p[k]);
    return c ? c : (i < k ? -1 : i > k);
}

// Check split s; with --skip-bad, compact it (samples and classes). Returns the number of bad inputs and
// appends "path: reason" lines to *skipped. *H, *W: the size of the first good input.
static int64_t check_split(AprepSplit *s, const AprepOptions *o, char ***skipped, int64_t *nskipped, int *H,
                           int *W) {
    const int64_t n = s->n;
    CheckJob *jobs = apt_calloc((size_t)o->threads, sizeof(CheckJob));
    pthread_t *tids = apt_calloc((size_t)o->threads, sizeof(pthread_t));
    int32_t(*hw)[2] = apt_malloc((size_t)(n ? n : 1) * sizeof *hw);
    char **err = apt_calloc((size_t)(n ? n : 1), sizeof(char *));
    int64_t checked = 0;
    for (int t = 0; t < o->threads; t++) {
        jobs[t] = (CheckJob){s, o, hw, err, t, o->threads, &checked, 0};
        APT_CHECK(pthread_create(&tids[t], NULL, check_worker, &jobs[t]) == 0, "pthread_create");
    }
    // A progress line every 5 s while the workers run (a check of millions of images takes minutes).
    const double t0 = apt_time_now();
    double last = t0;
    for (int64_t k; (k = __atomic_load_n(&checked, __ATOMIC_RELAXED)) < n;) {
        const struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        const double now = apt_time_now();
        if (now - last >= 5.0) {
            const double rate = k / (now - t0);
            printf("aprep: %s: checked %lld/%lld inputs, %.0f/s, ETA %.0f s\n", s->split, (long long)k,
                   (long long)n, rate, rate > 0 ? (n - k) / rate : 0.0);
            fflush(stdout);
            last = now;
        }
    }
    for (int t = 0; t < o->threads; t++) {
        pthread_join(tids[t], NULL);
        APT_CHECK(!jobs[t].oom, "out of memory storing the check pass's reasons");
    }
    // duplicates: every occurrence after the first
    int64_t *idx = apt_malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, cmp_path_idx, s->paths);
    for (int64_t r = 1; r < n; r++)
        if (!strcmp(s->paths[idx[r]], s->paths[idx[r - 1]]) && !err[idx[r]])
            err[idx[r]] = strdup("duplicate path (listed more than once)");
    free(idx);
    // one size for raw storage without --size
    *H = *W = 0;
    for (int64_t i = 0; i < n && !*H; i++)
        if (!err[i]) {
            *H = hw[i][0];
            *W = hw[i][1];
        }
    if (o->storage == APT_STORAGE_RAW && !o->size_h && !o->short_side)
        for (int64_t i = 0; i < n; i++)
            if (!err[i] && (hw[i][0] != *H || hw[i][1] != *W)) {
                char e[160];
                snprintf(e, sizeof e, "image is %dx%d but the dataset is %dx%d (use --size to resize)",
                         hw[i][0], hw[i][1], *H, *W);
                err[i] = strdup(e);
            }
    // classes without a good sample
    int64_t *count = apt_calloc((size_t)s->num_classes, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        if (!err[i]) count[s->labels[i]]++;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (err[i]) {
            bad++;
            fprintf(stderr, "aprep: %s: %s (split %s, row %lld)\n", s->paths[i], err[i], s->split,
                    (long long)i);
        }
    int64_t empty = 0;
    for (int k = 0; k < s->num_classes; k++)
        if (!count[k]) {
            empty++;
            if (s->class_dir)
                fprintf(stderr, "aprep: %s/%s: empty class (no images)\n", s->class_dir, s->class_names[k]);
            else
                fprintf(stderr, "aprep: class %s of split %s: empty class (no good images)\n",
                        s->class_names[k], s->split);
        }
    fflush(stderr);
    if ((bad || empty) && o->skip_bad) { // compact samples and classes; record what was left out
        *skipped = realloc(*skipped, (size_t)(*nskipped + bad + empty + 1) * sizeof(char *));
        int *remap = apt_malloc((size_t)s->num_classes * sizeof(int));
        int K = 0;
        for (int k = 0; k < s->num_classes; k++) {
            if (count[k]) {
                remap[k] = K;
                s->class_names[K++] = s->class_names[k];
            } else {
                remap[k] = -1;
                char *line = NULL;
                APT_CHECK(asprintf(&line, "class %s: empty", s->class_names[k]) > 0, "asprintf");
                (*skipped)[(*nskipped)++] = line;
                free(s->class_names[k]);
            }
        }
        s->num_classes = K;
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++) {
            if (err[i]) {
                char *line = NULL;
                APT_CHECK(asprintf(&line, "%s: %s", s->paths[i], err[i]) > 0, "asprintf");
                (*skipped)[(*nskipped)++] = line;
                free(s->paths[i]);
                continue;
            }
            s->paths[m] = s->paths[i];
            s->labels[m] = remap[s->labels[i]];
            if (s->bbox) memcpy(s->bbox[m], s->bbox[i], sizeof s->bbox[i]);
            m++;
        }
        s->n = m;
        free(remap);
        apt_warn("aprep: split %s: left out %lld bad input(s) and %lld empty class(es) (--skip-bad)",
                 s->split, (long long)bad, (long long)empty);
    }
    for (int64_t i = 0; i < n; i++)
        free(err[i]);
    free(err);
    free(hw);
    free(count);
    free(jobs);
    free(tids);
    return bad + empty;
}

// ---- job fingerprint: the inputs and options a partial directory was started with ----

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void job_string(char *out, size_t cap, const char *name, const AprepSplit *splits, int ns,
                       const AprepOptions *o) {
    uint64_t h = 1469598103934665603ull;
    int opts[] = {o->size_h,     o->size_w,   o->short_side,     (int)o->storage,
                  o->shard_size, o->channels, o->max_short_side, o->quality};
    h = fnv(h, opts, sizeof opts);
    h = fnv(h, &o->bbox_margin, sizeof o->bbox_margin);
    int64_t total = 0;
    for (int k = 0; k < ns; k++) {
        const AprepSplit *s = &splits[k];
        h = fnv(h, s->split, strlen(s->split) + 1);
        for (int64_t i = 0; i < s->n; i++) {
            h = fnv(h, s->paths[i], strlen(s->paths[i]) + 1);
            h = fnv(h, &s->labels[i], sizeof s->labels[i]);
            if (s->bbox) h = fnv(h, s->bbox[i], sizeof s->bbox[i]);
        }
        for (int c = 0; c < s->num_classes; c++)
            h = fnv(h, s->class_names[c], strlen(s->class_names[c]) + 1);
        total += s->n;
    }
    snprintf(out, cap, "aprep %s format %d: %lld samples, %d split(s), job %016llx\n", name,
             APT_DATA_FORMAT_VERSION, (long long)total, ns, (unsigned long long)h);
}

// ---- write pass ----

typedef struct {
    const AprepSplit *s;
    const AprepOptions *o;
    int H, W, C;
    int64_t first, count; // block of samples
    uint8_t *images;      // raw: [count, H, W, C]
    uint8_t **enc;        // jpeg: [count] encoded bytes
    size_t *enc_len;
    int (*enc_hw)[2];
    char (*errs)[256]; // [count], "" when fine
    int tid, T;
} Job;

static void *encode_worker(void *arg) {
    Job *j = arg;
    const size_t bytes = (size_t)j->H * j->W * j->C;
    for (int64_t i = j->tid; i < j->count; i += j->T) {
        const int64_t g = j->first + i;
        const float *bb = j->s->bbox ? j->s->bbox[g] : NULL;
        j->errs[i][0] = 0;
        int rc = j->o->storage == APT_STORAGE_RAW
                     ? aprep_load_raw(j->s->paths[g], bb, j->o, j->H, j->W, j->C, j->images + i * bytes,
                                      j->errs[i], 256)
                     : aprep_load_jpeg(j->s->paths[g], bb, j->o, j->C, &j->enc[i], &j->enc_len[i],
                                       &j->enc_hw[i][0], &j->enc_hw[i][1], j->errs[i], 256);
        if (rc != 0 && !j->errs[i][0]) snprintf(j->errs[i], 256, "cannot decode");
    }
    return NULL;
}

static void fmt_eta(char *out, size_t cap, double s) {
    if (s < 0 || s > 1e7) s = 0;
    int h = (int)(s / 3600), m = (int)(s / 60) % 60, sec = (int)s % 60;
    if (h)
        snprintf(out, cap, "%dh%02dm", h, m);
    else
        snprintf(out, cap, "%dm%02ds", m, sec);
}

static void write_split(const char *dir, const char *name, const AprepSplit *s, int H, int W,
                        char *const *skipped, int64_t nskipped, const AprepOptions *o) {
    const int C = o->channels;
    if (o->storage == APT_STORAGE_RAW) {
        if (o->size_h) {
            H = o->size_h;
            W = o->size_w;
        } else if (o->short_side) {
            H = W = o->short_side;
        }
        if (s->n == 0) apt_user_error("split %s has no images", s->split);
    } else {
        H = o->size_h;
        W = o->size_w;
    }
    AprepWriter *w = aprep_writer_create(dir, name, s->split, s->n, H, W, C, o->storage, o->shard_size,
                                         s->num_classes, s->class_names);
    aprep_writer_set_quality(w, o->quality);
    aprep_writer_skipped(w, skipped, nskipped);
    const int64_t done = aprep_writer_resume(w, s->labels);
    if (done) apt_info("aprep: %s: %lld samples already in complete shards", s->split, (long long)done);
    const int T = o->threads;
    const int64_t block = 64 * (int64_t)T;
    const size_t bytes = o->storage == APT_STORAGE_RAW ? (size_t)H * W * C : 0;
    uint8_t *images = bytes ? apt_malloc((size_t)block * bytes) : NULL;
    uint8_t **enc = apt_calloc((size_t)block, sizeof(uint8_t *));
    size_t *enc_len = apt_calloc((size_t)block, sizeof(size_t));
    int(*enc_hw)[2] = apt_calloc((size_t)block, sizeof *enc_hw);
    char(*errs)[256] = apt_malloc((size_t)block * 256);
    Job *jobs = apt_calloc((size_t)T, sizeof(Job));
    pthread_t *tids = apt_calloc((size_t)T, sizeof(pthread_t));
    double t0 = apt_time_now(), last = t0;
    int64_t out_bytes = 0;
    for (int64_t first = done; first < s->n; first += block) {
        int64_t count = s->n - first < block ? s->n - first : block;
        for (int t = 0; t < T; t++) {
            jobs[t] = (Job){s, o, H, W, C, first, count, images, enc, enc_len, enc_hw, errs, t, T};
            APT_CHECK(pthread_create(&tids[t], NULL, encode_worker, &jobs[t]) == 0, "pthread_create");
        }
        for (int t = 0; t < T; t++)
            pthread_join(tids[t], NULL);
        for (int64_t i = 0; i < count; i++) {
            if (errs[i][0]) // passed the check pass, failed now: the file changed underneath
                apt_user_error("%s: %s (split %s, row %lld)", s->paths[first + i], errs[i], s->split,
                               (long long)(first + i));
            if (bytes) {
                aprep_writer_add(w, images + i * bytes, s->labels[first + i], s->paths[first + i]);
                out_bytes += (int64_t)bytes;
            } else {
                aprep_writer_add_encoded(w, enc[i], enc_len[i], enc_hw[i][0], enc_hw[i][1],
                                         s->labels[first + i], s->paths[first + i]);
                out_bytes += (int64_t)enc_len[i];
                free(enc[i]);
                enc[i] = NULL;
            }
        }
        double now = apt_time_now();
        int64_t k = first + count;
        if (now - last >= 2.0 || k == s->n) {
            double rate = (k - done) / (now - t0 + 1e-9);
            char eta[32];
            fmt_eta(eta, sizeof eta, (s->n - k) / (rate > 0 ? rate : 1));
            printf("aprep: %s: %lld/%lld images, %.0f images/s, %.1f MB written, ETA %s\n", s->split,
                   (long long)k, (long long)s->n, rate, out_bytes / 1e6, eta);
            fflush(stdout);
            last = now;
        }
    }
    aprep_writer_finish(w);
    free(images);
    free(enc);
    free(enc_len);
    free(enc_hw);
    free(errs);
    free(jobs);
    free(tids);
    apt_info("aprep: %s: %lld samples, %s storage, %d classes", s->split, (long long)s->n,
             apt_storage_name(o->storage), s->num_classes);
}

void aprep_write_decoded(const char *out, const char *name, AprepSplit *splits, int nsplits,
                         const AprepOptions *o) {
    double t0 = apt_time_now();
    char **skipped[8] = {0};
    int64_t nskipped[8] = {0}, bad = 0;
    int H[8], W[8];
    APT_CHECK(nsplits <= 8, "too many splits");
    for (int k = 0; k < nsplits; k++)
        bad += check_split(&splits[k], o, &skipped[k], &nskipped[k], &H[k], &W[k]);
    if (bad && !o->skip_bad)
        apt_user_error(
            "%lld bad input(s) listed above; nothing written (fix them, or add --skip-bad to leave "
            "them out)",
            (long long)bad);
    int64_t total = 0;
    for (int k = 0; k < nsplits; k++)
        total += splits[k].n;
    printf("aprep: checked %lld inputs in %.1f s\n", (long long)total, apt_time_now() - t0);
    char partial[4096], job[512];
    job_string(job, sizeof job, name, splits, nsplits, o);
    aprep_out_begin(out, o->resume, job, partial, sizeof partial);
    for (int k = 0; k < nsplits; k++)
        write_split(partial, name, &splits[k], H[k], W[k], skipped[k], nskipped[k], o);
    aprep_out_commit(partial, out);
    for (int k = 0; k < nsplits; k++) {
        for (int64_t i = 0; i < nskipped[k]; i++)
            free(skipped[k][i]);
        free(skipped[k]);
    }
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
    free(s->bbox);
    free(s->class_dir);
    memset(s, 0, sizeof *s);
}
