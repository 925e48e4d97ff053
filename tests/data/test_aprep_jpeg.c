// test_aprep_jpeg.c — jpeg storage end to end on tiny synthetic trees in the real download layouts.
//   iNaturalist (Smooth-AP split files, numeric class directories): original JPEG bytes kept bit for bit,
//     a PNG re-encoded, per-row sizes, classes in numeric order with their directory names;
//   output identical for --threads 1 and 2; --resume after an interruption gives the same bytes;
//   --max-short-side re-encodes only big images; `aprep info` shows storage and bytes per image;
//   integrity: one flipped byte inside a stored JPEG fails verify and the loader with the shard and row
//     named; a wrong content hash in the manifest fails verify;
//   bad input (missing listed image, duplicate path, truncated and corrupt JPEGs): every one reported,
//     then a summary, nothing written; --skip-bad writes the rest and records them in the manifest;
//   VGGFace2 with loose bounding boxes (+ margin): the stored image is the crop.
#define _GNU_SOURCE
#include "core/fsutil.h"
#include "h5/h5check.h"
#include "h5/h5strings.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/shard_reader.h"
#include "harness.h"
#include "imgfiles.h"

#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_root[64], g_aprep[4096], g_err[4200];

static uint8_t *slurp(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)len + 1);
    *n = fread(d, 1, (size_t)len, f);
    fclose(f);
    return d;
}

static int spew(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t k = fwrite(d, 1, n, f);
    fclose(f);
    return k == n ? 0 : -1;
}

// A photo-like h x w image: smooth gradients, a disc and noise (salt picks the variant).
static void photo(uint8_t *p, int h, int w, uint32_t salt) {
    img_pattern(p, h, w, 3, salt);
    const double cy = h * (0.3 + 0.1 * (salt % 4)), cx = w * 0.6, r = (h < w ? h : w) / 3.0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if ((y - cy) * (y - cy) + (x - cx) * (x - cx) < r * r) p[(y * w + x) * 3 + salt % 3] = 230;
}

static void write_jpeg(const char *root, const char *rel, int h, int w, uint32_t salt) {
    char path[4096], dir[4096];
    apt_path_join(path, sizeof path, root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    apt_mkdir_p(dir);
    uint8_t *px = malloc((size_t)h * w * 3);
    photo(px, h, w, salt);
    TEST_CHECK(img_write_jpeg(path, px, h, w) == 0, "write %s", path);
    free(px);
}

static int lines_of(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    return lines;
}

// Every regular file of a equals the one of b (names and bytes).
static int same_tree(const char *a, const char *b) {
    return sh("cd %s && for f in *; do cmp -s \"$f\" \"%s/$f\" || exit 1; done && [ $(ls %s | wc -l) -eq "
              "$(ls %s | wc -l) ]",
              a, b, a, b) == 0;
}

// iNaturalist layout: 10 train images in 3 classes (one a PNG), 4 test images in 2 classes.
static const char *k_train[] = {"train_val2018/Plantae/7477/a.jpg", "train_val2018/Aves/3/b.jpg",
                                "train_val2018/Plantae/7477/c.jpg", "train_val2018/Aves/12/d.jpg",
                                "train_val2018/Aves/3/e.jpg",       "train_val2018/Aves/12/f.png",
                                "train_val2018/Plantae/7477/g.jpg", "train_val2018/Aves/3/h.jpg",
                                "train_val2018/Aves/12/i.jpg",      "train_val2018/Plantae/7477/j.jpg"};
static const char *k_test[] = {"train_val2018/Fungi/500/k.jpg", "train_val2018/Fungi/500/l.jpg",
                               "train_val2018/Fungi/41/m.jpg", "train_val2018/Fungi/41/n.jpg"};

static void make_inat(const char *root) {
    char p[4096], list[8192] = "";
    for (int i = 0; i < 10; i++) {
        int h = 30 + 7 * i, w = 60 - 3 * i;
        if (strstr(k_train[i], ".png")) {
            char path[4096], dir[4096];
            apt_path_join(path, sizeof path, root, k_train[i]);
            snprintf(dir, sizeof dir, "%s", path);
            *strrchr(dir, '/') = 0;
            apt_mkdir_p(dir);
            uint8_t *px = malloc((size_t)h * w * 3);
            photo(px, h, w, 99);
            img_write_png(path, px, h, w, 3);
            free(px);
        } else {
            write_jpeg(root, k_train[i], h, w, (uint32_t)i);
        }
        strcat(list, k_train[i]);
        strcat(list, "\n");
    }
    apt_path_join(p, sizeof p, root, "Inat_dataset_splits");
    apt_mkdir_p(p);
    apt_path_join(p, sizeof p, root, "Inat_dataset_splits/Inaturalist_train_set1.txt");
    txt_write(p, list);
    list[0] = 0;
    for (int i = 0; i < 4; i++) {
        write_jpeg(root, k_test[i], 40 + 5 * i, 48, (uint32_t)(20 + i));
        strcat(list, k_test[i]);
        strcat(list, "\n");
    }
    apt_path_join(p, sizeof p, root, "Inat_dataset_splits/Inaturalist_test_set1.txt");
    txt_write(p, list);
}

static void check_inat(const char *out, const char *root) {
    AptManifest *m = apt_manifest_load(out, "train");
    TEST_CHECK(m->storage == APT_STORAGE_JPEG && m->format_version == APT_DATA_FORMAT_VERSION &&
                   m->num_samples == 10 && m->num_classes == 3 && m->num_shards == 4,
               "train manifest: storage %s N %lld K %d shards %d", apt_storage_name(m->storage),
               (long long)m->num_samples, m->num_classes, m->num_shards);
    const char *cls[] = {"3", "12", "7477"}; // numeric order, directory names kept
    for (int k = 0; k < 3 && k < m->num_classes; k++)
        TEST_CHECK(!strcmp(m->class_names[k], cls[k]), "class %d is %s", k, m->class_names[k]);
    AptShardReader *r = apt_shard_reader_create(m);
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    int kept = 0, png_ok = 0;
    for (int i = 0; i < 10 && i < m->num_samples; i++) {
        int h, w;
        apt_shard_reader_read_encoded(r, i, &buf, &cap, &len, &h, &w);
        TEST_CHECK(h == 30 + 7 * i && w == 60 - 3 * i, "row %d: size %dx%d", i, h, w);
        char path[4096];
        apt_path_join(path, sizeof path, root, k_train[i]);
        size_t n;
        uint8_t *orig = slurp(path, &n);
        if (strstr(k_train[i], ".png")) { // re-encoded: a JPEG of the same size
            uint8_t *px = NULL;
            int dh, dw;
            char err[256];
            png_ok = apt_image_decode(buf, len, 3, &px, &dh, &dw, err, sizeof err) == 0 && buf[0] == 0xFF &&
                     dh == h && dw == w;
            free(px);
        } else {
            kept += n == len && !memcmp(orig, buf, n);
        }
        free(orig);
    }
    TEST_CHECK(kept == 9, "%d of 9 JPEG rows hold the original bytes", kept);
    TEST_CHECK(png_ok, "the PNG row is not a JPEG of the same size");
    printf("ok   inaturalist jpeg: 9 original JPEGs bit-exact, PNG re-encoded, sizes per row, classes "
           "3,12,7477\n");
    free(buf);
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);
}

// Offset of the first occurrence of needle (a stored JPEG) in the file at path, or -1.
static long find_in_file(const char *path, const uint8_t *needle, size_t n) {
    size_t fn;
    uint8_t *d = slurp(path, &fn);
    uint8_t *hit = d ? memmem(d, fn, needle, n) : NULL;
    long off = hit ? (long)(hit - d) : -1;
    free(d);
    return off;
}

// Child process: load the split and read every row through the loader's eval path.
static int child_loader(const char *dir) {
    pid_t pid = fork();
    if (pid == 0) {
        freopen(g_err, "w", stderr);
        AptLoaderOptions o;
        apt_loader_options_default(&o);
        o.dir = dir;
        o.split = "train";
        o.mode = APT_LOADER_EVAL;
        o.batch_size = 4;
        o.resize = 24;
        o.crop = 20;
        AptLoader *l = apt_loader_create(&o);
        while (apt_loader_next(l))
            ;
        apt_loader_destroy(l);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void expect_one_line(const char *what, int st, const char *n1, const char *n2) {
    char buf[8192];
    int lines = lines_of(g_err, buf, sizeof buf);
    TEST_CHECK(st == 1 && lines == 1 && strstr(buf, n1) && (!n2 || strstr(buf, n2)),
               "%s: status %d, %d lines: %s", what, st, lines, buf);
    printf("ok   %-36s -> %s", what, buf);
}

static void integrity(const char *good, const char *root) {
    char bad[4096], shard[4200], path[4200];
    apt_path_join(bad, sizeof bad, g_root, "damaged");
    // One inverted byte in the middle of row 1 of train-00001.h5 (sample 4, e.jpg).
    apt_rm_rf(bad);
    TEST_CHECK(sh("cp -r %s %s", good, bad) == 0, "copy");
    snprintf(shard, sizeof shard, "%s/train-00001.h5", bad);
    apt_path_join(path, sizeof path, root, k_train[4]);
    size_t n;
    uint8_t *jpg = slurp(path, &n);
    long off = find_in_file(shard, jpg, n);
    TEST_CHECK(off > 0, "stored JPEG not found in %s", shard);
    size_t fn;
    uint8_t *d = slurp(shard, &fn);
    d[off + (long)n / 2] ^= 0xFF;
    spew(shard, d, fn);
    free(d);
    free(jpg);
    int st = sh("%s verify %s >/dev/null 2>%s", g_aprep, bad, g_err);
    expect_one_line("verify: damaged JPEG row", st, "train-00001.h5: row 1", "checksum");
    expect_one_line("loader: damaged JPEG row", child_loader(bad), "train-00001.h5: row 1", "checksum");

    // A manifest whose content hash for shard 2 disagrees with the shard.
    apt_rm_rf(bad);
    TEST_CHECK(sh("cp -r %s %s", good, bad) == 0, "copy");
    snprintf(path, sizeof path, "%s/train.h5", bad);
    apt_h5_init();
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "shard_hashes", H5P_DEFAULT);
    uint64_t hv[4];
    H5Dread(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, hv);
    hv[2] ^= 1;
    H5Dwrite(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, hv);
    H5Dclose(ds);
    H5Fclose(f);
    st = sh("%s verify %s >/dev/null 2>%s", g_aprep, bad, g_err);
    expect_one_line("verify: content hash mismatch", st, "train-00002.h5", "content hash");
    apt_rm_rf(bad);
}

static void bad_inputs(void) {
    char root[4096], out[4096], p[4096], q[20000];
    apt_path_join(root, sizeof root, g_root, "inat_bad");
    make_inat(root);
    // truncated JPEG (first 60%), corrupt JPEG (scan data overwritten), a missing file, a duplicate line
    apt_path_join(p, sizeof p, root, k_train[2]);
    size_t n;
    uint8_t *d = slurp(p, &n);
    spew(p, d, n * 6 / 10);
    free(d);
    apt_path_join(p, sizeof p, root, k_train[3]);
    d = slurp(p, &n);
    memset(d + n / 2, 0xFF, 6); // a run of 0xFF bytes where entropy-coded data belongs
    memset(d + n / 2 + 6, 0xD9, 1);
    spew(p, d, n);
    free(d);
    apt_path_join(p, sizeof p, root, "Inat_dataset_splits/Inaturalist_train_set1.txt");
    FILE *f = fopen(p, "a");
    fputs("train_val2018/Aves/3/missing.jpg\ntrain_val2018/Aves/3/b.jpg\n", f);
    fclose(f);
    apt_path_join(out, sizeof out, g_root, "out_bad");
    int st = sh("%s inaturalist %s %s >/dev/null 2>%s", g_aprep, root, out, g_err);
    char buf[16384];
    int lines = lines_of(g_err, buf, sizeof buf);
    TEST_CHECK(st == 1 && lines == 5 && strstr(buf, "c.jpg") && strstr(buf, "d.jpg") &&
                   strstr(buf, "missing.jpg") && strstr(buf, "duplicate") && strstr(buf, "4 bad input"),
               "bad inputs: status %d, %d lines (want 4 + summary):\n%s", st, lines, buf);
    TEST_CHECK(!apt_path_exists(out) && sh("ls -d %s.partial >/dev/null 2>&1", out) != 0,
               "something written after refusing bad inputs");
    printf("ok   bad inputs: 4 reported one line each + summary, nothing written\n%s", buf);
    snprintf(q, sizeof q, "%s inaturalist --skip-bad %s %s >/dev/null 2>%s", g_aprep, root, out, g_err);
    TEST_CHECK(sh("%s", q) == 0, "--skip-bad run failed");
    AptManifest *m = apt_manifest_load(out, "train");
    TEST_CHECK(m->num_samples == 8 && m->num_skipped == 4, "--skip-bad: %lld samples, %lld skipped",
               (long long)m->num_samples, (long long)m->num_skipped);
    for (int64_t i = 0; i < m->num_skipped; i++)
        printf("     skipped: %s\n", m->skipped[i]);
    apt_manifest_free(m);
    TEST_CHECK(sh("%s verify %s >/dev/null", g_aprep, out) == 0, "verify after --skip-bad");
}

static void vggface2(void) {
    char root[4096], out[4096], p[4096];
    apt_path_join(root, sizeof root, g_root, "vgg");
    write_jpeg(root, "train/n000002/0001_01.jpg", 60, 50, 1);
    write_jpeg(root, "train/n000001/0002_01.jpg", 64, 48, 2);
    write_jpeg(root, "test/n000009/0001_01.jpg", 56, 56, 3);
    apt_path_join(p, sizeof p, root, "train_list.txt");
    txt_write(p, "n000002/0001_01.jpg\nn000001/0002_01.jpg\n");
    apt_path_join(p, sizeof p, root, "test_list.txt");
    txt_write(p, "n000009/0001_01.jpg\n");
    apt_path_join(p, sizeof p, root, "bb_landmark");
    apt_mkdir_p(p);
    apt_path_join(p, sizeof p, root, "bb_landmark/loose_bb_train.csv");
    txt_write(p, "NAME_ID,X,Y,W,H\n\"n000002/0001_01\",10,12,20,30\n\"n000001/0002_01\",5,6,30,40\n");
    apt_path_join(p, sizeof p, root, "bb_landmark/loose_bb_test.csv");
    txt_write(p, "NAME_ID,X,Y,W,H\n\"n000009/0001_01\",8,8,40,40\n");
    apt_path_join(out, sizeof out, g_root, "out_vgg");
    TEST_CHECK(sh("%s vggface2 --bbox-margin 0.1 --quality 95 %s %s >/dev/null", g_aprep, root, out) == 0,
               "aprep vggface2 with boxes");
    AptManifest *m = apt_manifest_load(out, "train");
    AptShardReader *r = apt_shard_reader_create(m);
    // samples in list order: n000002 box (10,12,20,30) + 10% = x 8..32, y 9..45 -> 36 x 24;
    // n000001 box (5,6,30,40) + 10% = x 2..38, y 2..50 -> 48 x 36
    const int want[2][4] = {{36, 24, 9, 8}, {48, 36, 2, 2}};
    const char *src[2] = {"train/n000002/0001_01.jpg", "train/n000001/0002_01.jpg"};
    for (int i = 0; i < 2; i++) {
        uint8_t *buf = NULL, *px = NULL, *orig = NULL, *o = NULL;
        size_t cap = 0, len, n;
        int h, w, oh, ow;
        char err[256];
        apt_shard_reader_read_encoded(r, i, &buf, &cap, &len, &h, &w);
        TEST_CHECK(h == want[i][0] && w == want[i][1], "vggface2 row %d: %dx%d, want %dx%d", i, h, w,
                   want[i][0], want[i][1]);
        apt_image_decode(buf, len, 3, &px, &h, &w, err, sizeof err);
        apt_path_join(p, sizeof p, root, src[i]);
        o = slurp(p, &n);
        apt_image_decode(o, n, 3, &orig, &oh, &ow, err, sizeof err);
        // Re-encoded crop vs the decoded original at the box offset and at offsets one pixel away: the
        // noisy test pattern and 4:2:0 chroma make the error large in absolute terms, but the box offset
        // must be where it is smallest.
        double mad = 0, best_other = 1e9;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                double e = 0;
                for (int y = 0; y < h && h == want[i][0]; y++)
                    for (int x = 0; x < w * 3 && w == want[i][1]; x++)
                        e += fabs((double)px[y * w * 3 + x] -
                                  orig[((y + want[i][2] + dy) * ow) * 3 + (want[i][3] + dx) * 3 + x]);
                e /= (double)h * w * 3;
                if (!dy && !dx)
                    mad = e;
                else if (e < best_other)
                    best_other = e;
            }
        TEST_CHECK(mad < best_other && mad < 20.0,
                   "vggface2 row %d: mean |crop - original crop| = %.2f, shifted %.2f", i, mad, best_other);
        printf(
            "ok   vggface2 row %d: loose box + 10%% margin -> %dx%d, mean abs diff vs the original crop %.2f "
            "(1 px off: %.2f)\n",
            i, h, w, mad, best_other);
        free(buf);
        free(px);
        free(orig);
        free(o);
    }
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);
}

int main(void) {
    snprintf(g_root, sizeof g_root, "/tmp/apt_jpeg_XXXXXX");
    TEST_CHECK(mkdtemp(g_root) != NULL, "mkdtemp");
    snprintf(g_aprep, sizeof g_aprep, "%s/aprep", getenv("APT_BINARY_DIR") ? getenv("APT_BINARY_DIR") : ".");
    snprintf(g_err, sizeof g_err, "%s/stderr.txt", g_root);
    char root[4096], out[4096], out1[4096], outr[4096];
    apt_path_join(root, sizeof root, g_root, "inat");
    make_inat(root);
    apt_path_join(out, sizeof out, g_root, "out");
    TEST_CHECK(sh("%s inaturalist --shard-size 3 --threads 2 %s %s >/dev/null", g_aprep, root, out) == 0,
               "aprep inaturalist (jpeg by default)");
    check_inat(out, root);
    TEST_CHECK(sh("%s verify %s >/dev/null", g_aprep, out) == 0, "verify");
    char info[8192];
    TEST_CHECK(sh("%s info %s > %s/info.txt", g_aprep, out, g_root) == 0, "info");
    snprintf(g_err, sizeof g_err, "%s/info.txt", g_root);
    lines_of(g_err, info, sizeof info);
    snprintf(g_err, sizeof g_err, "%s/stderr.txt", g_root);
    TEST_CHECK(strstr(info, "storage jpeg") && strstr(info, "bytes/image") && strstr(info, "short side"),
               "info lacks storage / bytes per image / size distribution:\n%s", info);
    printf("%s", info);

    // Same output for any --threads.
    apt_path_join(out1, sizeof out1, g_root, "out_t1");
    TEST_CHECK(sh("%s inaturalist --shard-size 3 --threads 1 %s %s >/dev/null", g_aprep, root, out1) == 0,
               "threads 1");
    TEST_CHECK(same_tree(out, out1), "--threads 1 and 2 give different files");
    printf("ok   --threads 1 and --threads 2 write identical files\n");

    // Interrupted run: manifests and the last shards missing, a half-written shard left as .part.
    apt_path_join(outr, sizeof outr, g_root, "out_r");
    TEST_CHECK(
        sh("cp -r %s %s.partial && cd %s.partial && rm train.h5 test.h5 train-00002.h5 train-00003.h5 && "
           "head -c 100 ../out/train-00002.h5 > train-00002.h5.part",
           out, outr, outr) == 0,
        "simulate interruption");
    TEST_CHECK(sh("%s inaturalist --shard-size 3 %s %s >/dev/null 2>%s", g_aprep, root, outr, g_err) == 1,
               "a partial directory without --resume must be refused");
    TEST_CHECK(sh("%s inaturalist --shard-size 3 --resume %s %s >/dev/null", g_aprep, root, outr) == 0,
               "--resume");
    TEST_CHECK(same_tree(out, outr), "resumed output differs from an uninterrupted run");
    printf("ok   --resume after an interruption writes the same files as an uninterrupted run\n");

    // --max-short-side: only images whose short side exceeds it are re-encoded.
    apt_path_join(out1, sizeof out1, g_root, "out_max");
    TEST_CHECK(sh("%s inaturalist --max-short-side 40 %s %s >/dev/null", g_aprep, root, out1) == 0,
               "max-short-side");
    AptManifest *m = apt_manifest_load(out1, "train");
    AptShardReader *r = apt_shard_reader_create(m);
    int ok = 1;
    for (int i = 0; i < 10; i++) {
        int h, w, h0 = 30 + 7 * i, w0 = 60 - 3 * i, eh = h0, ew = w0;
        if ((h0 < w0 ? h0 : w0) > 40) apt_image_short_side(h0, w0, 40, &eh, &ew);
        apt_shard_reader_size(r, i, &h, &w);
        ok &= h == eh && w == ew;
    }
    TEST_CHECK(ok, "--max-short-side 40: sizes");
    apt_shard_reader_destroy(r);
    apt_manifest_free(m);

    integrity(out, root);
    bad_inputs();
    vggface2();
    apt_rm_rf(g_root);
    return apt_test_finish("test_aprep_jpeg");
}
