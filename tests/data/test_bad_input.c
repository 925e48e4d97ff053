// test_bad_input.c — every kind of bad input ends the process with exit status 1 and ONE line on stderr
// naming the file (and the row where there is one), from `aprep` and from the library API (run in a
// forked child). And aprep never leaves OUT, nor its temp directory, after a failed run.
#include "core/fsutil.h"
#include "h5/h5check.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/shard_reader.h"
#include "harness.h"
#include "imgfiles.h"
#include "synth.h"

#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_root[64], g_aprep[1024], g_err[256];

// stderr of the last run must be exactly `want_lines` lines (one, or one per bad input plus the summary of
// aprep's check pass) containing every needle.
static int g_want_lines = 1;
static void check_err(const char *what, int status, const char *n1, const char *n2) {
    FILE *f = fopen(g_err, "r");
    char buf[8192] = "";
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    TEST_CHECK(status == 1, "%s: exit status %d, want 1 (stderr: %s)", what, status, buf);
    TEST_CHECK(lines == g_want_lines, "%s: %d lines on stderr, want %d: %s", what, lines, g_want_lines, buf);
    TEST_CHECK(!n1 || strstr(buf, n1), "%s: message does not name '%s': %s", what, n1, buf);
    TEST_CHECK(!n2 || strstr(buf, n2), "%s: message does not contain '%s': %s", what, n2, buf);
    printf("ok   %-34s -> %s", what, buf);
}

static void run_aprep(const char *what, const char *args, const char *n1, const char *n2) {
    int st = sh("%s %s 2>%s >/dev/null", g_aprep, args, g_err);
    check_err(what, st, n1, n2);
}

typedef enum { OP_MANIFEST, OP_READ, OP_LOADER_EPOCH, OP_LOADER_THREADS } Op;

// Run one library call in a child with stderr captured.
static void run_child(const char *what, Op op, const char *dir, int64_t row, const char *n1, const char *n2) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *e = freopen(g_err, "w", stderr);
        (void)e;
        AptManifest *m = apt_manifest_load(dir, "train");
        if (op == OP_READ) {
            AptShardReader *r = apt_shard_reader_create(m);
            uint8_t buf[4096];
            apt_shard_reader_read(r, row, buf);
        } else if (op == OP_LOADER_EPOCH) {
            AptLoaderOptions o;
            apt_loader_options_default(&o);
            o.dir = dir;
            o.batch_size = 8;
            o.samples_per_class = 4; // every class has 3 samples: the epoch plan is empty
            apt_loader_create(&o);
        } else if (op == OP_LOADER_THREADS) { // the error surfaces in a worker thread
            AptLoaderOptions o;
            apt_loader_options_default(&o);
            o.dir = dir;
            o.mode = APT_LOADER_EVAL;
            o.batch_size = 4;
            o.threads = 2;
            AptLoader *l = apt_loader_create(&o);
            while (apt_loader_next(l)) {
            }
        }
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    check_err(what, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), n1, n2);
}

static void copy_dataset(const char *src, const char *dst) {
    TEST_CHECK(sh("rm -rf %s && cp -r %s %s", dst, src, dst) == 0, "copy %s", dst);
}

static void h5_edit(const char *path, const char *unlink_name, const char *labels_name, int64_t row,
                    int32_t value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    TEST_CHECK(f >= 0, "open %s for editing", path);
    if (unlink_name) TEST_CHECK(H5Ldelete(f, unlink_name, H5P_DEFAULT) >= 0, "unlink %s", unlink_name);
    if (labels_name) {
        hid_t d = H5Dopen2(f, labels_name, H5P_DEFAULT);
        hid_t fs = H5Dget_space(d);
        hsize_t start[1] = {(hsize_t)row}, count[1] = {1};
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        hid_t ms = H5Screate_simple(1, count, NULL);
        TEST_CHECK(H5Dwrite(d, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, &value) >= 0, "write label");
        H5Sclose(ms);
        H5Sclose(fs);
        H5Dclose(d);
    }
    H5Fclose(f);
}

int main(void) {
    snprintf(g_root, sizeof g_root, "/tmp/apt_bad_XXXXXX");
    TEST_CHECK(mkdtemp(g_root) != NULL, "mkdtemp");
    snprintf(g_aprep, sizeof g_aprep, "%s/aprep", getenv("APT_BINARY_DIR") ? getenv("APT_BINARY_DIR") : ".");
    snprintf(g_err, sizeof g_err, "%s/stderr.txt", g_root);
    apt_h5_init(); // silence HDF5's own error stack for the edits below
    char good[512], bad[512], p[1024], q[4096];

    // A good dataset: 24 samples, 8 classes x 3, shards of 10 (train-00000..00002).
    apt_path_join(good, sizeof good, g_root, "good");
    int32_t labels[24];
    for (int i = 0; i < 24; i++)
        labels[i] = i % 8;
    synth_write(good, "train", 24, 4, 4, 3, 8, labels, 10);
    TEST_CHECK(sh("%s verify %s >/dev/null", g_aprep, good) == 0, "verify of the good dataset");
    apt_path_join(bad, sizeof bad, g_root, "bad");

    // Missing files.
    apt_path_join(p, sizeof p, g_root, "nowhere");
    snprintf(q, sizeof q, "verify %s", p);
    run_aprep("verify: missing directory", q, "nowhere", "not found");
    run_child("load: missing directory", OP_MANIFEST, p, 0, "nowhere", NULL);
    copy_dataset(good, bad);
    apt_path_join(p, sizeof p, bad, "train-00001.h5");
    unlink(p);
    snprintf(q, sizeof q, "verify %s", bad);
    run_aprep("verify: missing shard", q, "train-00001.h5", "missing");
    run_child("read: missing shard", OP_READ, bad, 12, "train-00001.h5", "missing");

    // Not HDF5 at all.
    copy_dataset(good, bad);
    apt_path_join(p, sizeof p, bad, "train.h5");
    txt_write(p, "this is text\n");
    run_aprep("verify: manifest not HDF5", q, "train.h5", "HDF5");

    // Wrong layout: manifest without /labels; shard without /images; shard without /labels.
    copy_dataset(good, bad);
    h5_edit(p, "labels", NULL, 0, 0);
    run_aprep("verify: manifest lacks /labels", q, "train.h5", "/labels");
    run_child("load: manifest lacks /labels", OP_MANIFEST, bad, 0, "train.h5", "/labels");
    copy_dataset(good, bad);
    apt_path_join(p, sizeof p, bad, "train-00002.h5");
    h5_edit(p, "images", NULL, 0, 0);
    run_aprep("verify: shard lacks /images", q, "train-00002.h5", "/images");
    run_child("read: shard lacks /images", OP_READ, bad, 21, "train-00002.h5", "/images");
    copy_dataset(good, bad);
    h5_edit(p, "labels", NULL, 0, 0);
    run_aprep("verify: shard lacks /labels", q, "train-00002.h5", "/labels");

    // Truncated shard (a copy cut to half its size with truncate(2)).
    copy_dataset(good, bad);
    apt_path_join(p, sizeof p, bad, "train-00001.h5");
    struct stat stt;
    stat(p, &stt);
    TEST_CHECK(truncate(p, stt.st_size / 2) == 0, "truncate");
    run_aprep("verify: truncated shard", q, "train-00001.h5", "truncated");
    run_child("read: truncated shard", OP_READ, bad, 15, "train-00001.h5", NULL);
    run_child("loader threads: truncated shard", OP_LOADER_THREADS, bad, 0, "train-00001.h5", NULL);

    // Label out of range in the manifest (row 5 := 99); shard label disagreeing with the manifest.
    copy_dataset(good, bad);
    apt_path_join(p, sizeof p, bad, "train.h5");
    h5_edit(p, NULL, "labels", 5, 99);
    run_aprep("verify: label out of range", q, "train.h5", "row 5: label 99 out of range");
    run_child("load: label out of range", OP_MANIFEST, bad, 0, "train.h5", "row 5");
    copy_dataset(good, bad);
    apt_path_join(p, sizeof p, bad, "train-00001.h5");
    h5_edit(p, NULL, "labels", 2, 7);
    run_aprep("verify: shard label mismatch", q, "train-00001.h5", "row 2");

    // Sampler with an empty plan (m larger than every class).
    run_child("loader: empty epoch plan", OP_LOADER_EPOCH, good, 0, "train.h5", "classes");

    // aprep sources: empty class, undecodable image, size mismatch, bad list line, missing list.
    char root[512], out[512], d[1024];
    uint8_t px[8 * 6 * 3];
    img_pattern(px, 8, 6, 3, 1);
    apt_path_join(root, sizeof root, g_root, "imgs");
    apt_path_join(d, sizeof d, root, "train/a");
    apt_mkdir_p(d);
    apt_path_join(p, sizeof p, d, "1.png");
    img_write_png(p, px, 8, 6, 3);
    apt_path_join(d, sizeof d, root, "train/b");
    apt_mkdir_p(d);
    apt_path_join(out, sizeof out, g_root, "out");
    snprintf(q, sizeof q, "folder %s %s", root, out);
    g_want_lines = 2; // the bad input, then the summary
    run_aprep("folder: empty class", q, "train/b", "empty class");
    TEST_CHECK(!apt_path_exists(out) && sh("ls -d %s.tmp.* %s.partial >/dev/null 2>&1", out, out) != 0,
               "output left after failure");
    apt_path_join(p, sizeof p, d, "2.jpg");
    txt_write(p, "\xff\xd8\xff garbage that is no JPEG");
    g_want_lines = 3; // the image, its class now empty, the summary
    run_aprep("folder: undecodable image", q, "train/b/2.jpg", "row 1");
    TEST_CHECK(!apt_path_exists(out) && sh("ls -d %s.tmp.* %s.partial >/dev/null 2>&1", out, out) != 0,
               "output left after failure");
    img_pattern(px, 6, 6, 3, 2);
    img_write_png(p, px, 6, 6, 3); // a PNG named .jpg decodes fine (magic bytes decide), but it is 6x6
    run_aprep("folder: size mismatch", q, "train/b/2.jpg", "--size");
    g_want_lines = 1;
    char list[512];
    apt_path_join(list, sizeof list, g_root, "list.txt");
    txt_write(list, "train/a/1.png 0\ntrain/b/2.jpg 1 extra\n");
    snprintf(q, sizeof q, "list %s %s %s", root, list, out);
    run_aprep("list: bad line", q, "list.txt:2", NULL);
    snprintf(q, sizeof q, "list %s %s/none.txt %s", root, g_root, out);
    run_aprep("list: missing list file", q, "none.txt", NULL);
    TEST_CHECK(!apt_path_exists(out), "output left after failure");

    apt_rm_rf(g_root);
    return apt_test_finish("test_bad_input");
}
