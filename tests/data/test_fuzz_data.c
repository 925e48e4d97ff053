// test_fuzz_data.c — damaged datasets never crash: a fixed-seed, fixed-count mutation fuzzer over the
// manifests and shards of a small jpeg dataset and a small raw dataset. Each mutation (bytes inverted,
// a run overwritten, the file truncated, junk appended) is followed by `aprep verify`, `aprep info` and the
// loader's open-and-read path (in a forked child); every run must exit 0 or 1, and on 1 print exactly one
// line on stderr — never a signal, a hang, or a stack of library messages. ctest label "fuzz".
//
// usage: test_fuzz_data [COUNT] [SEED]   (defaults: 160 mutations, seed 2026)
#define _GNU_SOURCE
#include "core/fsutil.h"
#include "core/rng.h"
#include "core/timer.h"
#include "data/loader.h"
#include "harness.h"
#include "imgfiles.h"
#include "synth.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_root[64], g_aprep[4096], g_err[4200];

typedef struct {
    char dir[4096]; // the dataset the runs read (mutated in place, restored after each mutation)
    char files[32][256];
    int nfiles;
} Dataset;

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

static void spew(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n) fwrite(d, 1, n, f);
        fclose(f);
    }
}

static void list_h5(Dataset *ds) {
    DIR *d = opendir(ds->dir);
    struct dirent *e;
    ds->nfiles = 0;
    while ((e = readdir(d)) && ds->nfiles < 32) {
        size_t n = strlen(e->d_name);
        if (n > 3 && !strcmp(e->d_name + n - 3, ".h5"))
            snprintf(ds->files[ds->nfiles++], 256, "%s", e->d_name);
    }
    closedir(d);
}

// Run argv with stderr to g_err and a 30 s limit; returns the exit status or 128 + signal.
static int run(char *const argv[]) {
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen(g_err, "w", stderr);
        alarm(30);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_loader(const char *dir) {
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen(g_err, "w", stderr);
        alarm(30);
        AptLoaderOptions o;
        apt_loader_options_default(&o);
        o.dir = dir;
        o.split = "train";
        o.mode = APT_LOADER_EVAL;
        o.batch_size = 4;
        o.crop = 8;
        o.resize = 10;
        o.threads = 2;
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

static int g_fail_shown = 0;
static void check(const char *what, int st, const char *file, const char *mutation) {
    size_t n;
    char *err = (char *)slurp(g_err, &n);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += err[i] == '\n';
    int ok = st == 0 || (st == 1 && lines == 1);
    if (!ok && g_fail_shown++ < 10)
        printf("FAIL %s after %s of %s: status %d, %d stderr lines:\n%.*s\n", what, mutation, file, st, lines,
               (int)(n < 2000 ? n : 2000), err ? err : "");
    TEST_CHECK(ok, "%s: %s of %s: status %d, %d lines", what, mutation, file, st, lines);
    free(err);
}

int main(int argc, char **argv) {
    const int count = argc > 1 ? atoi(argv[1]) : 160;
    const uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 2026;
    snprintf(g_root, sizeof g_root, "/tmp/apt_fuzz_XXXXXX");
    TEST_CHECK(mkdtemp(g_root) != NULL, "mkdtemp");
    snprintf(g_aprep, sizeof g_aprep, "%s/aprep", getenv("APT_BINARY_DIR") ? getenv("APT_BINARY_DIR") : ".");
    snprintf(g_err, sizeof g_err, "%s/stderr.txt", g_root);
    double t0 = apt_time_now();

    // A jpeg dataset (folder source: 2 splits, shards of 3) and a raw one (synthetic, shards of 4).
    Dataset ds[2];
    char src[4096], p[4400];
    apt_path_join(src, sizeof src, g_root, "src");
    uint8_t px[24 * 20 * 3];
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "%s/%s/c%d", src, i < 8 ? "train" : "test", i % 3);
        apt_mkdir_p(p);
        snprintf(p, sizeof p, "%s/%s/c%d/%d.jpg", src, i < 8 ? "train" : "test", i % 3, i);
        img_pattern(px, 24 - i, 20, 3, (uint32_t)i);
        img_write_jpeg(p, px, 24 - i, 20);
    }
    apt_path_join(ds[0].dir, sizeof ds[0].dir, g_root, "jpeg");
    TEST_CHECK(sh("%s folder --storage jpeg --shard-size 3 %s %s >/dev/null", g_aprep, src, ds[0].dir) == 0,
               "aprep folder");
    apt_path_join(ds[1].dir, sizeof ds[1].dir, g_root, "raw");
    int32_t labels[12];
    for (int i = 0; i < 12; i++)
        labels[i] = i % 3;
    synth_write(ds[1].dir, "train", 12, 12, 12, 3, 3, labels, 4);
    for (int k = 0; k < 2; k++) {
        list_h5(&ds[k]);
        char *va[] = {g_aprep, "verify", ds[k].dir, NULL};
        TEST_CHECK(run(va) == 0, "%s: pristine dataset does not verify", ds[k].dir);
    }

    AptRngStream r = apt_rng_stream(seed, APT_RNG_TEST, 77, 0, 0);
    int exit1 = 0, exit0 = 0;
    for (int it = 0; it < count; it++) {
        Dataset *d = &ds[apt_rng_next_below(&r, 2)];
        const char *file = d->files[apt_rng_next_below(&r, (uint32_t)d->nfiles)];
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", d->dir, file);
        size_t n;
        uint8_t *orig = slurp(path, &n), *buf = malloc(n + 4096);
        memcpy(buf, orig, n);
        size_t m = n;
        char mutation[128];
        uint32_t op = apt_rng_next_below(&r, 8);
        // Half the byte edits land in the first 4 KiB, where HDF5 keeps most metadata of small files.
        size_t span = apt_rng_next_below(&r, 2) && n > 4096 ? 4096 : n;
        if (op < 4) { // invert 1..8 single bytes
            int k = 1 + (int)apt_rng_next_below(&r, 8);
            for (int j = 0; j < k; j++)
                buf[apt_rng_next_below(&r, (uint32_t)span)] ^= (uint8_t)(1 + apt_rng_next_below(&r, 255));
            snprintf(mutation, sizeof mutation, "%d inverted byte(s)", k);
        } else if (op < 6) { // overwrite a run of up to 64 bytes
            size_t at = apt_rng_next_below(&r, (uint32_t)span), len = 1 + apt_rng_next_below(&r, 64);
            if (at + len > n) len = n - at;
            memset(buf + at, op == 4 ? 0x00 : 0xFF, len);
            snprintf(mutation, sizeof mutation, "%zu bytes set to 0x%02X at %zu", len, op == 4 ? 0 : 0xFF,
                     at);
        } else if (op == 6) { // truncate
            m = apt_rng_next_below(&r, (uint32_t)n);
            snprintf(mutation, sizeof mutation, "truncation to %zu of %zu bytes", m, n);
        } else { // append junk
            size_t k = 1 + apt_rng_next_below(&r, 4096);
            for (size_t j = 0; j < k; j++)
                buf[n + j] = (uint8_t)apt_rng_next_u32(&r);
            m = n + k;
            snprintf(mutation, sizeof mutation, "%zu junk bytes appended", k);
        }
        spew(path, buf, m);
        char *va[] = {g_aprep, "verify", d->dir, NULL}, *ia[] = {g_aprep, "info", d->dir, NULL};
        int st = run(va);
        check("aprep verify", st, file, mutation);
        exit0 += st == 0;
        exit1 += st == 1;
        check("aprep info", run(ia), file, mutation);
        check("loader open+read", run_loader(d->dir), file, mutation);
        spew(path, orig, n);
        free(orig);
        free(buf);
    }
    printf("ok   %d mutations (seed %llu): verify exited 1 (one line) %d times, 0 %d times (damage in unused "
           "bytes); info and the loader never crashed; %.1f s\n",
           count, (unsigned long long)seed, exit1, exit0, apt_time_now() - t0);
    apt_rm_rf(g_root);
    return apt_test_finish("test_fuzz_data");
}
