// gen_scale_dataset.c — a synthetic iNaturalist or VGGFace2 download with the real layout and counts,
// for the scale rehearsal (tests/bench/scale_rehearsal.sh). The pixels do not matter, the counts do:
// every image is a small JPEG (24–64 px sides for iNaturalist, 40–80 px for VGGFace2, varied aspect,
// a class-coloured pattern plus noise, ~1–3 KB), so millions of files fit on one disk and take minutes.
//
//   gen_scale_dataset inaturalist|vggface2 OUT [--fraction F] [--seed S] [--threads T]
//
// inaturalist (Smooth-AP split, the counts of Brown et al.): train 325,846 images in 5,690 classes, test
//   136,093 images in 2,452 other classes. OUT/train_val2018/<kingdom>/<category>/<hex>.jpg and
//   OUT/Inat_dataset_splits/Inaturalist_{train,test}_set1.txt (paths relative to OUT).
// vggface2: train 3,141,890 images of 8,631 identities, test 169,396 images of 500 identities.
//   OUT/{train,test}/n<6 digits>/<4 digits>_<2 digits>.jpg, OUT/{train,test}_list.txt and
//   OUT/bb_landmark/loose_bb_{train,test}.csv ("NAME_ID",X,Y,W,H after a header, as released).
// --fraction F scales images and classes alike (at least 2 classes per split), so the images per class
// stay those of the real set. Images per class follow a skewed, deterministic split of the total (the
// real sets are long-tailed): class k gets a share proportional to 1 + 3 u_k^3, u_k uniform, and at
// least `min_per_class`. Everything is a function of (seed, split, class, image): the same arguments
// give the same files for any thread count.
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

typedef struct {
    const char *split; // "train", "test"
    int64_t images;
    int classes;
} SplitCount;

static const SplitCount INAT[2] = {{"train", 325846, 5690}, {"test", 136093, 2452}};
static const SplitCount VGG[2] = {{"train", 3141890, 8631}, {"test", 169396, 500}};
static const char *KINGDOMS[] = {"Plantae",        "Insecta",   "Aves",     "Reptilia", "Mammalia",
                                 "Fungi",          "Amphibia",  "Mollusca", "Animalia", "Arachnida",
                                 "Actinopterygii", "Chromista", "Protozoa"};

// splitmix64: a counter-based generator, so any (split, class, image) is drawn independently.
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
static uint64_t key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    return mix(mix(mix(seed ^ 0x5ca1e) ^ a) ^ (b << 1)) ^ (c * 0x2545f4914f6cdd1dull);
}
static double unif(uint64_t k) {
    return (double)(mix(k) >> 11) * 0x1.0p-53;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "gen_scale_dataset: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

// 0, or -1 with the directory that failed in `failed` (workers hand that to the main thread, DESIGN §5).
static int try_mkdir_p(const char *path, char *failed, size_t cap) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1;; p++) {
        if (*p && *p != '/') continue;
        const char c = *p;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            snprintf(failed, cap, "%s", tmp);
            return -1;
        }
        if (!c) return 0;
        *p = c;
    }
}
static void mkdir_p(const char *path) { // main thread
    char failed[4096];
    if (try_mkdir_p(path, failed, sizeof failed) != 0) die("mkdir %s failed", failed);
}

// Images per class: total split into K shares ∝ 1 + 3u^3 (largest remainder), each >= lo.
static int64_t *class_sizes(int64_t total, int K, int64_t lo, uint64_t seed, int split) {
    int64_t *n = calloc((size_t)K, sizeof *n);
    double *w = malloc((size_t)K * sizeof *w), sw = 0;
    if (!n || !w) die("%s", "out of memory");
    if (total < lo * K) lo = total / K;
    for (int k = 0; k < K; k++) {
        double u = unif(key(seed, 1, (uint64_t)split, (uint64_t)k));
        w[k] = 1 + 3 * u * u * u;
        sw += w[k];
    }
    int64_t rest = total - lo * K, given = 0;
    for (int k = 0; k < K; k++) {
        n[k] = lo + (int64_t)floor(rest * w[k] / sw);
        given += n[k];
    }
    for (int k = 0; given < total; k = (k + 1) % K, given++) // largest-remainder, approximately: round-robin
        n[k]++;
    free(w);
    return n;
}

typedef struct {
    int vgg;           // 0 inaturalist, 1 vggface2
    const char *out;   // OUT
    int split;         // 0 train, 1 test
    int K;             // classes of the split
    const int *cat;    // [K] category number / identity number of class k
    const int64_t *nk; // [K] images of class k
    uint64_t seed;
    int tid, T;
    char **list;   // [K] list lines of class k (malloc'd, filled by the worker)
    char **csv;    // [K] csv lines of class k (vggface2)
    int64_t bytes; // JPEG bytes written by this worker
    char err[4900]; // the worker's error ("" if none): the main thread dies with it after the join
} Work;

// The file of image i of class k: a class-coloured gradient plus noise, h x w, quality 85, 4:2:0.
static int write_image(tjhandle tj, uint8_t *px, const char *path, int h, int w, int cls, uint64_t k,
                       int64_t *bytes) {
    const int r0 = 40 + (cls * 37) % 180, g0 = 40 + (cls * 91) % 180, b0 = 40 + (cls * 53) % 180;
    uint64_t s = k;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int noise = (int)((s >> 59) & 31) - 16;
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            int v0 = r0 + x + noise, v1 = g0 + y + noise, v2 = b0 + ((x + y) & 15) + noise;
            p[0] = (uint8_t)(v0 < 0 ? 0 : v0 > 255 ? 255 : v0);
            p[1] = (uint8_t)(v1 < 0 ? 0 : v1 > 255 ? 255 : v1);
            p[2] = (uint8_t)(v2 < 0 ? 0 : v2 > 255 ? 255 : v2);
        }
    unsigned char *jpg = NULL;
    unsigned long n = 0;
    if (tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpg, &n, TJSAMP_420, 85, 0) != 0) return -1;
    FILE *f = fopen(path, "wb");
    size_t wr = f ? fwrite(jpg, 1, n, f) : 0;
    int rc = (f && fclose(f) == 0 && wr == n) ? 0 : -1;
    tjFree(jpg);
    *bytes += (int64_t)n;
    return rc;
}

// 0, or -1 when out of memory (*buf is then unchanged).
static int append(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t l = strlen(s);
    if (*len + l + 1 > *cap) {
        char *grown = realloc(*buf, (*len + l + 1) * 2);
        if (!grown) return -1;
        *buf = grown, *cap = (*len + l + 1) * 2;
    }
    memcpy(*buf + *len, s, l + 1);
    *len += l;
    return 0;
}

static void *worker(void *arg) {
    Work *wk = arg;
    tjhandle tj = tjInitCompress();
    uint8_t *px = malloc(80 * 80 * 3);
    char dir[4096], path[4800], rel[512], line[640];
    int oom = !px || !tj;
    for (int k = wk->tid; k < wk->K && !wk->err[0] && !oom; k += wk->T) {
        size_t len = 0, cap = 0, clen = 0, ccap = 0;
        char *lines = NULL, *csv = NULL;
        oom |= append(&lines, &len, &cap, "");
        if (wk->vgg) {
            oom |= append(&csv, &clen, &ccap, "");
            snprintf(dir, sizeof dir, "%s/%s/n%06d", wk->out, wk->split ? "test" : "train", wk->cat[k]);
        } else {
            snprintf(dir, sizeof dir, "%s/train_val2018/%s/%d", wk->out,
                     KINGDOMS[wk->cat[k] % (int)(sizeof KINGDOMS / sizeof *KINGDOMS)], wk->cat[k]);
        }
        char failed[4096];
        if (try_mkdir_p(dir, failed, sizeof failed) != 0) snprintf(wk->err, sizeof wk->err, "mkdir %s failed", failed);
        for (int64_t i = 0; i < wk->nk[k] && !wk->err[0] && !oom; i++) {
            const uint64_t kk = key(wk->seed, 2 + (uint64_t)wk->split, (uint64_t)k, (uint64_t)i);
            const double u = unif(kk), v = unif(kk + 1);
            int h, w;
            if (wk->vgg) { // faces: portrait-ish 40-80 px
                h = 48 + (int)(32 * u);
                w = 40 + (int)(32 * v);
            } else { // 24-64 px sides, aspect 0.5-2
                h = 24 + (int)(40 * u);
                w = 24 + (int)(40 * v);
            }
            if (wk->vgg) {
                snprintf(rel, sizeof rel, "n%06d/%04lld_%02d", wk->cat[k], (long long)(i / 3 + 1),
                         (int)(i % 3) + 1);
                snprintf(path, sizeof path, "%s/%s/%s.jpg", wk->out, wk->split ? "test" : "train", rel);
                snprintf(line, sizeof line, "%s.jpg\n", rel);
                oom |= append(&lines, &len, &cap, line);
                // loose box: most of the image, offset a little (x, y, w, h; inside the image)
                const int bx = 2 + (int)(4 * u), by = 3 + (int)(5 * v);
                snprintf(line, sizeof line, "\"%s\",%d,%d,%d,%d\n", rel, bx, by, w - bx - 2 - (int)(3 * v),
                         h - by - 2 - (int)(4 * u));
                oom |= append(&csv, &clen, &ccap, line);
            } else {
                snprintf(rel, sizeof rel, "%016llx%016llx.jpg", (unsigned long long)mix(kk ^ 7),
                         (unsigned long long)mix(kk ^ 11));
                snprintf(path, sizeof path, "%s/%s", dir, rel);
                snprintf(line, sizeof line, "train_val2018/%s/%d/%s\n",
                         KINGDOMS[wk->cat[k] % (int)(sizeof KINGDOMS / sizeof *KINGDOMS)], wk->cat[k], rel);
                oom |= append(&lines, &len, &cap, line);
            }
            if (!oom && write_image(tj, px, path, h, w, wk->cat[k], kk, &wk->bytes) != 0)
                snprintf(wk->err, sizeof wk->err, "cannot write %s", path);
        }
        wk->list[k] = lines;
        if (wk->vgg) wk->csv[k] = csv;
    }
    if (oom && !wk->err[0]) snprintf(wk->err, sizeof wk->err, "out of memory");
    free(px);
    if (tj) tjDestroy(tj);
    return NULL;
}

int main(int argc, char **argv) {
    double fraction = 1;
    uint64_t seed = 1;
    int T = 2;
    const char *pos[2];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fraction") && i + 1 < argc)
            fraction = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (npos < 2 && argv[i][0] != '-')
            pos[npos++] = argv[i];
        else
            die("usage: gen_scale_dataset inaturalist|vggface2 OUT [--fraction F] [--seed S] [--threads T]%s",
                "");
    }
    if (npos != 2 || fraction <= 0 || fraction > 1 || T < 1)
        die("usage: gen_scale_dataset inaturalist|vggface2 OUT [--fraction F (0, 1]] [--seed S] [--threads "
            "T]%s",
            "");
    const int vgg = !strcmp(pos[0], "vggface2");
    if (!vgg && strcmp(pos[0], "inaturalist")) die("unknown dataset %s", pos[0]);
    const char *out = pos[1];
    const SplitCount *sc = vgg ? VGG : INAT;
    mkdir_p(out);
    // Category / identity numbers: one shuffled pool shared by both splits, so the splits are disjoint.
    int Ks[2], total_k = 0;
    int64_t Ns[2];
    for (int s = 0; s < 2; s++) {
        Ks[s] = (int)llround(sc[s].classes * fraction);
        if (Ks[s] < 2) Ks[s] = 2;
        Ns[s] = llround((double)sc[s].images * fraction);
        if (Ns[s] < 4 * Ks[s]) Ns[s] = 4 * Ks[s];
        total_k += Ks[s];
    }
    int *pool = malloc((size_t)total_k * sizeof *pool);
    for (int k = 0; k < total_k; k++)
        pool[k] = vgg ? k + 1 : k;
    for (int k = total_k - 1; k > 0; k--) {
        int j = (int)(mix(key(seed, 9, 0, (uint64_t)k)) % (uint64_t)(k + 1)), t = pool[k];
        pool[k] = pool[j];
        pool[j] = t;
    }
    int64_t bytes = 0, files = 0;
    char summary[4096];
    snprintf(summary, sizeof summary, "%s/GENERATED.txt", out); // the counts, for scale_rehearsal.sh --src
    FILE *sf = fopen(summary, "w");
    if (!sf) die("cannot write %s", summary);
    for (int s = 0; s < 2; s++) {
        int *cat = pool + (s ? Ks[0] : 0);
        // the list files are written in category order, as the release's are
        qsort(cat, (size_t)Ks[s], sizeof *cat, cmp_int);
        int64_t *nk = class_sizes(Ns[s], Ks[s], vgg ? 87 : 5, seed, s);
        Work *wk = calloc((size_t)T, sizeof *wk);
        pthread_t *th = calloc((size_t)T, sizeof *th);
        char **list = calloc((size_t)Ks[s], sizeof(char *)), **csv = calloc((size_t)Ks[s], sizeof(char *));
        for (int t = 0; t < T; t++) {
            wk[t] = (Work){vgg, out, s, Ks[s], cat, nk, seed, t, T, list, csv, 0, ""};
            if (pthread_create(&th[t], NULL, worker, &wk[t]) != 0) die("%s", "pthread_create");
        }
        for (int t = 0; t < T; t++) {
            pthread_join(th[t], NULL);
            bytes += wk[t].bytes;
        }
        for (int t = 0; t < T; t++) // a worker's error, raised here (DESIGN §5: only the main thread exits)
            if (wk[t].err[0]) die("%s", wk[t].err);
        char p[4096];
        if (vgg) {
            snprintf(p, sizeof p, "%s/%s_list.txt", out, sc[s].split);
        } else {
            snprintf(p, sizeof p, "%s/Inat_dataset_splits", out);
            mkdir_p(p);
            snprintf(p, sizeof p, "%s/Inat_dataset_splits/Inaturalist_%s_set1.txt", out, sc[s].split);
        }
        FILE *f = fopen(p, "w");
        if (!f) die("cannot write %s", p);
        for (int k = 0; k < Ks[s]; k++) {
            fputs(list[k], f);
            free(list[k]);
        }
        if (fclose(f) != 0) die("cannot write %s", p);
        if (vgg) {
            snprintf(p, sizeof p, "%s/bb_landmark", out);
            mkdir_p(p);
            snprintf(p, sizeof p, "%s/bb_landmark/loose_bb_%s.csv", out, sc[s].split);
            f = fopen(p, "w");
            if (!f) die("cannot write %s", p);
            fputs("NAME_ID,X,Y,W,H\n", f);
            for (int k = 0; k < Ks[s]; k++) {
                fputs(csv[k], f);
                free(csv[k]);
            }
            if (fclose(f) != 0) die("cannot write %s", p);
        }
        for (int k = 0; k < Ks[s]; k++)
            files += nk[k];
        printf("gen_scale_dataset: %s %s: %lld images in %d classes\n", pos[0], sc[s].split, (long long)Ns[s],
               Ks[s]);
        fprintf(sf, "gen_scale_dataset: %s %s: %lld images in %d classes (fraction %g, seed %llu)\n", pos[0],
                sc[s].split, (long long)Ns[s], Ks[s], fraction, (unsigned long long)seed);
        free(nk);
        free(wk);
        free(th);
        free(list);
        free(csv);
    }
    printf("gen_scale_dataset: %lld files, %.1f MB of JPEG\n", (long long)files, bytes / 1e6);
    if (fclose(sf) != 0) die("cannot write %s", summary);
    free(pool);
    return 0;
}
