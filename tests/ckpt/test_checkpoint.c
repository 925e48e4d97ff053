// test_checkpoint.c — checkpoint round trip is bitwise (weights, BN buffers, m, v, counters, config text);
// every damaged or mismatched file is a one-line user error (exit 1) naming the file and the tensor:
// truncated file, a flipped byte inside one tensor's data (crc32), wrong shape, missing and extra
// tensors, SGD state restored into Adam. Also the run-directory policy (latest.h5 + keep newest steps),
// and a format-1 file kept in the repository (tests/ckpt/data/checkpoint_format1.h5, written at commit
// f859ee0, while this code was src/train/checkpoint.c) still restores bitwise: the format does not drift
// while the code around it moves.
// Error cases run in a forked child whose stderr is captured.
// `test_checkpoint --write-golden FILE` writes that file's contents (only for a deliberate format change,
// which also bumps format_version).
#include "harness.h"
#include "ckpt/checkpoint.h"
#include "core/fsutil.h"
#include "core/rng.h"

#include <hdf5.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int ndim, shape[4];
    int is_buffer;
} Spec;

static const Spec SPECS[] = {
    {"conv1.weight", 4, {8, 3, 3, 3}, 0},   {"bn1.weight", 1, {8}, 0},     {"bn1.bias", 1, {8}, 0},
    {"bn1.running_mean", 1, {8}, 1},        {"bn1.running_var", 1, {8}, 1}, {"layer1.0.conv1.weight", 4, {8, 8, 3, 3}, 0},
    {"fc.weight", 2, {16, 8}, 0},           {"fc.bias", 1, {16}, 0},
};
#define NSPEC (int)(sizeof SPECS / sizeof SPECS[0])

// Build a store from the specs; skip = index to leave out (-1 none); shape_bump = index whose dim 0 grows.
static void build(AptParamStore *ps, int skip, int shape_bump, const char *extra, int adam) {
    apt_params_init(ps);
    for (int i = 0; i < NSPEC; i++) {
        if (i == skip) continue;
        int shape[4];
        memcpy(shape, SPECS[i].shape, sizeof shape);
        if (i == shape_bump) shape[0] += 1;
        apt_params_add(ps, SPECS[i].name, SPECS[i].ndim, shape, SPECS[i].is_buffer);
    }
    if (extra) {
        int s[1] = {5};
        apt_params_add(ps, extra, 1, s, false);
    }
    apt_params_finalize(ps);
    ps->m = calloc(ps->numel, sizeof(float));
    if (adam) ps->v = calloc(ps->numel, sizeof(float));
}

static void fill(AptParamStore *ps, uint64_t seed) {
    AptRngStream r = apt_rng_stream(seed, APT_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < ps->numel; i++) {
        ps->w[i] = (float)apt_rng_next_normal(&r);
        ps->m[i] = (float)apt_rng_next_normal(&r);
        if (ps->v) ps->v[i] = (float)apt_rng_next_double(&r);
    }
    for (size_t i = 0; i < ps->buffers_numel; i++) ps->buffers[i] = (float)apt_rng_next_double(&r);
}

// The golden file's state: closed-form values (no RNG, so only the file format can make it fail), exact in
// float32, every tensor different.
static const AptCkptMeta GOLDEN_META = {.step = 4321, .epoch = 5, .step_in_epoch = 21, .optim_t = 4300,
                                        .seed = 0x0123456789ABCDEFull, .world_size = 3};
static const char GOLDEN_CONFIG[] = "run_name: golden\nmodel:\n  arch: smallcnn\noptim:\n  name: adam\n";
static void fill_golden(AptParamStore *ps) {
    for (size_t i = 0; i < ps->numel; i++) {
        ps->w[i] = (float)((long)(i % 97) - 48) * 0.0625f;
        ps->m[i] = (float)((long)(i % 31) - 15) * 0.001953125f;
        ps->v[i] = (float)(i % 53) * 0.0009765625f;
    }
    for (size_t i = 0; i < ps->buffers_numel; i++) ps->buffers[i] = 1.0f + (float)i * 0.125f;
}

// Run apt_checkpoint_load in a child; return its exit status and its stderr in msg.
static int load_in_child(const char *path, int skip, int shape_bump, const char *extra, int adam, char *msg,
                         size_t cap) {
    char errf[128];
    snprintf(errf, sizeof errf, "/tmp/apt_test_ckpt_err_%d.txt", (int)getpid());
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(errf, "w", stderr)) _exit(99);
        AptParamStore ps;
        build(&ps, skip, shape_bump, extra, adam);
        AptCkptMeta meta;
        apt_checkpoint_load(path, &ps, &meta, NULL);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    FILE *f = fopen(errf, "r");
    msg[0] = 0;
    if (f) {
        size_t n = fread(msg, 1, cap - 1, f);
        msg[n] = 0;
        fclose(f);
    }
    unlink(errf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_error(const char *what, const char *path, int skip, int bump, const char *extra, int adam,
                         const char *must_contain) {
    char msg[2048];
    int rc = load_in_child(path, skip, bump, extra, adam, msg, sizeof msg);
    int lines = 0;
    for (char *c = msg; *c; c++) lines += *c == '\n';
    TEST_CHECK(rc == 1, "%s: exit status %d, want 1 (user error)", what, rc);
    TEST_CHECK(lines == 1, "%s: %d lines of error output, want 1:\n%s", what, lines, msg);
    TEST_CHECK(strstr(msg, path) != NULL, "%s: message does not name the file: %s", what, msg);
    TEST_CHECK(!must_contain || strstr(msg, must_contain) != NULL, "%s: message lacks '%s': %s", what,
               must_contain, msg);
    printf("%-22s -> %s", what, msg);
}

static void copy_file(const char *src, const char *dst, long truncate_to) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    char buf[65536];
    long total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) {
        if (truncate_to >= 0 && total + (long)n > truncate_to) n = (size_t)(truncate_to - total);
        fwrite(buf, 1, n, b);
        total += (long)n;
        if (truncate_to >= 0 && total >= truncate_to) break;
    }
    fclose(a);
    fclose(b);
}

static long file_size(const char *p) {
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-golden")) {
        AptParamStore g;
        build(&g, -1, -1, NULL, 1);
        fill_golden(&g);
        apt_checkpoint_save(argv[2], &g, &GOLDEN_META, GOLDEN_CONFIG);
        apt_params_free(&g);
        return 0;
    }
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "/tmp/apt_test_ckpt_%d", (int)getpid());
    apt_mkdir_p(dir);
    snprintf(path, sizeof path, "%s/a.h5", dir);

    // ---- bitwise round trip
    AptParamStore a, b;
    build(&a, -1, -1, NULL, 1);
    fill(&a, 1);
    AptCkptMeta ma = {.step = 1234, .epoch = 7, .step_in_epoch = 34, .optim_t = 1234,
                      .seed = 0xDEADBEEFCAFEull, .world_size = 4};
    const char *cfg = "model:\n  arch: smallcnn\noptim:\n  lr: 0.001\n";
    apt_checkpoint_save(path, &a, &ma, cfg);
    build(&b, -1, -1, NULL, 1);
    fill(&b, 2);
    AptCkptMeta mb;
    char *cfg_back = NULL;
    apt_checkpoint_load(path, &b, &mb, &cfg_back);
    // Per tensor view (the 64-element padding between views is not state).
    for (int i = 0; i < a.n; i++) {
        const AptParam *q = &a.p[i];
        size_t o = q->offset, nb = q->numel * sizeof(float);
        if (q->is_buffer) {
            TEST_CHECK(memcmp(a.buffers + o, b.buffers + o, nb) == 0, "buffer %s differs after round trip", q->name);
            continue;
        }
        TEST_CHECK(memcmp(a.w + o, b.w + o, nb) == 0, "weights %s differ after round trip", q->name);
        TEST_CHECK(memcmp(a.m + o, b.m + o, nb) == 0, "m %s differs after round trip", q->name);
        TEST_CHECK(memcmp(a.v + o, b.v + o, nb) == 0, "v %s differs after round trip", q->name);
    }
    TEST_CHECK(mb.step == 1234 && mb.epoch == 7 && mb.step_in_epoch == 34 && mb.optim_t == 1234 &&
                   mb.seed == 0xDEADBEEFCAFEull && mb.world_size == 4,
               "counters differ after round trip");
    TEST_CHECK(cfg_back && strcmp(cfg_back, cfg) == 0, "config text differs: %s", cfg_back ? cfg_back : "(null)");
    free(cfg_back);
    AptCkptMeta mp;
    TEST_CHECK(apt_checkpoint_peek(path, &mp) == 0 && mp.step == 1234, "peek");
    char tmpname[300];
    apt_temp_name(tmpname, sizeof tmpname, path);
    TEST_CHECK(!apt_path_exists(tmpname), "temp file left behind");

    // ---- damaged files
    char bad[256];
    snprintf(bad, sizeof bad, "%s/truncated.h5", dir);
    copy_file(path, bad, file_size(path) / 2);
    expect_error("truncated to half", bad, -1, -1, NULL, 1, NULL);
    copy_file(path, bad, 100);
    expect_error("truncated to 100 B", bad, -1, -1, NULL, 1, "HDF5");

    // Flip one byte inside the data of params/layer1.0.conv1.weight, located through HDF5 itself.
    snprintf(bad, sizeof bad, "%s/flipped.h5", dir);
    copy_file(path, bad, -1);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "params/layer1.0.conv1.weight", H5P_DEFAULT);
    haddr_t off = HADDR_UNDEF; // tensors are one chunk each (Fletcher32 filter)
    hsize_t chunk_bytes = 0;
    hid_t dsp = H5Dget_space(d);
    H5Dget_chunk_info(d, dsp, 0, NULL, NULL, &off, &chunk_bytes);
    H5Sclose(dsp);
    H5Dclose(d);
    H5Fclose(f);
    TEST_CHECK(off != HADDR_UNDEF && chunk_bytes > 100, "no chunk offset");
    FILE *fb = fopen(bad, "r+b");
    fseek(fb, (long)off + 100, SEEK_SET);
    int c = fgetc(fb);
    fseek(fb, (long)off + 100, SEEK_SET);
    fputc(c ^ 0x10, fb);
    fclose(fb);
    expect_error("one flipped byte", bad, -1, -1, NULL, 1, "params/layer1.0.conv1.weight' fails its checksum");

    // ---- a different model
    expect_error("wrong shape", path, -1, 6, NULL, 1, "'params/fc.weight' has shape [16,8], the model expects [17,8]");
    expect_error("tensor missing in file", path, -1, -1, "extra.weight", 1, "'params/extra.weight' missing");
    expect_error("tensor not in model", path, 7, -1, NULL, 1, "'params/fc.bias' is not in the model");
    expect_error("no such file", "/nonexistent/x.h5", -1, -1, NULL, 1, "no such file");

    // SGD checkpoint (m only) restored into an Adam store (needs v).
    snprintf(bad, sizeof bad, "%s/sgd.h5", dir);
    free(a.v);
    a.v = NULL;
    apt_checkpoint_save(bad, &a, &ma, NULL);
    expect_error("SGD state into Adam", bad, -1, -1, NULL, 1, "optim/v");

    // ---- run directory policy: keep 2 newest step files, latest.h5 = newest
    char cdir[256], p[512];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    for (long s = 10; s <= 40; s += 10) {
        ma.step = s;
        a.w[0] = (float)s;
        apt_checkpoint_save_run(cdir, &a, &ma, NULL, 2);
    }
    int present[5];
    for (int i = 1; i <= 4; i++) {
        snprintf(p, sizeof p, "%s/step-%08d.h5", cdir, i * 10);
        present[i] = apt_path_exists(p);
    }
    TEST_CHECK(!present[1] && !present[2] && present[3] && present[4], "keep=2 kept %d%d%d%d", present[1],
               present[2], present[3], present[4]);
    snprintf(p, sizeof p, "%s/latest.h5", cdir);
    fill(&b, 3);
    free(b.v);
    b.v = NULL;
    apt_checkpoint_load(p, &b, &mb, NULL);
    TEST_CHECK(mb.step == 40 && b.w[0] == 40.0f, "latest.h5 is step %ld (w0 %g), want 40", mb.step, b.w[0]);

    // ---- a format-1 file written before this code last moved restores bitwise (weights, buffers, m, v,
    // counters, config text): read from the source tree, never rewritten by the test.
    const char *src = getenv("APT_SOURCE_DIR");
    char golden[1024];
    snprintf(golden, sizeof golden, "%s/tests/ckpt/data/checkpoint_format1.h5", src ? src : ".");
    TEST_CHECK(apt_path_exists(golden), "golden checkpoint %s missing", golden);
    if (apt_path_exists(golden)) {
        AptParamStore g, want;
        build(&g, -1, -1, NULL, 1);
        build(&want, -1, -1, NULL, 1);
        fill_golden(&want);
        fill(&g, 4); // overwritten by the file
        AptCkptMeta mg;
        char *cfg_g = NULL;
        apt_checkpoint_load(golden, &g, &mg, &cfg_g);
        for (int i = 0; i < g.n; i++) {
            const AptParam *q = &g.p[i];
            size_t o = q->offset, nb = q->numel * sizeof(float);
            if (q->is_buffer) {
                TEST_CHECK(memcmp(g.buffers + o, want.buffers + o, nb) == 0, "golden: buffer %s differs",
                           q->name);
                continue;
            }
            TEST_CHECK(memcmp(g.w + o, want.w + o, nb) == 0, "golden: weights %s differ", q->name);
            TEST_CHECK(memcmp(g.m + o, want.m + o, nb) == 0, "golden: m %s differs", q->name);
            TEST_CHECK(memcmp(g.v + o, want.v + o, nb) == 0, "golden: v %s differs", q->name);
        }
        TEST_CHECK(mg.step == GOLDEN_META.step && mg.epoch == GOLDEN_META.epoch &&
                       mg.step_in_epoch == GOLDEN_META.step_in_epoch && mg.optim_t == GOLDEN_META.optim_t &&
                       mg.seed == GOLDEN_META.seed && mg.world_size == GOLDEN_META.world_size,
                   "golden: counters differ (step %ld epoch %d)", mg.step, mg.epoch);
        TEST_CHECK(cfg_g && !strcmp(cfg_g, GOLDEN_CONFIG), "golden: config text differs: %s",
                   cfg_g ? cfg_g : "(null)");
        AptCkptMeta mpk;
        TEST_CHECK(apt_checkpoint_peek(golden, &mpk) == 0 && mpk.step == GOLDEN_META.step, "golden: peek");
        free(cfg_g);
        apt_params_free(&g);
        apt_params_free(&want);
        printf("golden format-1 checkpoint %s restores bitwise\n", golden);
    }

    apt_params_free(&a);
    apt_params_free(&b);
    apt_rm_rf(dir);
    return apt_test_finish("test_checkpoint");
}
