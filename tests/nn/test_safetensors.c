// test_safetensors.c — model.pretrained import by hand-written files (no Python):
//   - dtype conversion: F16 (normal, subnormal, negative), BF16, F64 and F32 tensors load to the exact
//     float32 values (all chosen exactly representable, so equality is exact);
//   - the head (`fc.*`) may be missing or of another shape: it keeps its fresh init;
//   - bad files — truncated data, absurd header length, non-JSON header, a missing tensor, a mis-shaped
//     tensor, an extra tensor — exit with status 1 and exactly one stderr line naming the file.
// Error cases run in child processes before this process starts any OpenMP threads.
#include "harness.h"
#include "nn/model.h"
#include "nn/safetensors.h"

#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[256];

typedef struct {
    const char *name, *dtype;
    int ndim, shape[4];
    const void *data;
    size_t bytes;
} T;

static void write_st(const char *path, const T *t, int n, const char *header_override, long truncate_by) {
    char hdr[4096];
    size_t off = 0, o = 0;
    o += (size_t)snprintf(hdr + o, sizeof hdr - o, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        o += (size_t)snprintf(hdr + o, sizeof hdr - o, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name,
                              t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            o += (size_t)snprintf(hdr + o, sizeof hdr - o, d ? ",%d" : "%d", t[i].shape[d]);
        o +=
            (size_t)snprintf(hdr + o, sizeof hdr - o, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].bytes);
        off += t[i].bytes;
    }
    o += (size_t)snprintf(hdr + o, sizeof hdr - o, "}");
    const char *h = header_override ? header_override : hdr;
    uint64_t hl = strlen(h);
    FILE *f = fopen(path, "wb");
    unsigned char l8[8];
    for (int i = 0; i < 8; i++)
        l8[i] = (unsigned char)(hl >> (8 * i));
    fwrite(l8, 1, 8, f);
    fwrite(h, 1, hl, f);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += t[i].bytes;
    size_t keep = truncate_by > 0 && (size_t)truncate_by < total ? total - (size_t)truncate_by : total;
    for (int i = 0; i < n && keep; i++) {
        size_t w = t[i].bytes < keep ? t[i].bytes : keep;
        fwrite(t[i].data, 1, w, f);
        keep -= w;
    }
    fclose(f);
}

// MLP on [1, 1, 3] inputs, 2 hidden units, D = 2: fc1.weight [2,3], fc1.bias [2], fc.weight [2,2], fc.bias
// [2].
static AptModelConfig mlp_cfg(const char *pretrained) {
    AptModelConfig mc;
    memset(&mc, 0, sizeof mc);
    strcpy(mc.arch, "mlp");
    mc.embed_dim = 2;
    mc.hidden = 2;
    mc.bn = APT_BN_FROZEN;
    snprintf(mc.pretrained, sizeof mc.pretrained, "%s", pretrained);
    return mc;
}

// Exact values: F16 bits for 0.5, -1.25, 2^-20 (subnormal), 65504 (max), -0.0, 3.0
static const uint16_t F16[6] = {0x3800, 0xBD00, 0x0010, 0x7BFF, 0x8000, 0x4200};
static const float F16_WANT[6] = {0.5f, -1.25f, 9.5367431640625e-07f, 65504.0f, -0.0f, 3.0f};
static const uint16_t BF16[2] = {0x3FC0, 0xC0A0}; // 1.5, -5.0
static const double F64[4] = {0.25, -0.375, 1024.0, 1e-3};
static const float F32[2] = {0.125f, -7.5f};

static void good_tensors(T *t) {
    t[0] = (T){"fc1.weight", "F16", 2, {2, 3}, F16, sizeof F16};
    t[1] = (T){"fc1.bias", "BF16", 1, {2}, BF16, sizeof BF16};
    t[2] = (T){"fc.weight", "F64", 2, {2, 2}, F64, sizeof F64};
    t[3] = (T){"fc.bias", "F32", 1, {2}, F32, sizeof F32};
}

static void expect_user_error(const char *label, const char *path, const char *must_contain) {
    int pfd[2];
    if (pipe(pfd) != 0) return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        AptModelConfig mc = mlp_cfg(path);
        apt_model_create(&mc, apt_backend_create("cpu"), NULL, 1, 1, 1, 3, 1);
        _exit(0);
    }
    close(pfd[1]);
    char buf[4096] = {0};
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(pfd[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(pfd[0]);
    int st = 0, lines = 0;
    waitpid(pid, &st, 0);
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    TEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s: exit status %d (want 1)", label, WEXITSTATUS(st));
    TEST_CHECK(lines == 1 && strstr(buf, path) && strstr(buf, must_contain), "%s: message '%s'", label, buf);
    printf("ok   %s: %s", label, buf);
}

int main(void) {
    const char *bin = getenv("APT_BINARY_DIR");
    snprintf(g_dir, sizeof g_dir, "%s", bin ? bin : "/tmp");
    char path[512];
    T t[5];
    good_tensors(t);

    // error cases first (fork before any OpenMP thread exists)
    snprintf(path, sizeof path, "%s/st_truncated.safetensors", g_dir);
    write_st(path, t, 4, NULL, 3);
    expect_user_error("truncated data", path, "fc");
    snprintf(path, sizeof path, "%s/st_badjson.safetensors", g_dir);
    write_st(path, t, 4, "{not json", 0);
    expect_user_error("non-JSON header", path, "JSON");
    snprintf(path, sizeof path, "%s/st_badlen.safetensors", g_dir);
    FILE *f = fopen(path, "wb");
    fwrite("\xff\xff\xff\xff\xff\xff\x00\x00{}", 1, 10, f);
    fclose(f);
    expect_user_error("absurd header length", path, "header length");
    snprintf(path, sizeof path, "%s/st_missing.safetensors", g_dir);
    write_st(path, t + 1, 3, NULL, 0); // no fc1.weight
    expect_user_error("missing tensor", path, "missing [fc1.weight]");
    T bad[4];
    memcpy(bad, t, sizeof bad);
    bad[0].shape[0] = 3, bad[0].shape[1] = 2; // fc1.weight [3, 2] instead of [2, 3]
    snprintf(path, sizeof path, "%s/st_shape.safetensors", g_dir);
    write_st(path, bad, 4, NULL, 0);
    expect_user_error("mis-shaped tensor", path, "fc1.weight (file F16 [3,2], model [2,3])");
    T extra[5];
    memcpy(extra, t, 4 * sizeof *t);
    extra[4] = (T){"layer9.weight", "F32", 1, {2}, F32, sizeof F32};
    snprintf(path, sizeof path, "%s/st_extra.safetensors", g_dir);
    write_st(path, extra, 5, NULL, 0);
    expect_user_error("tensor not in the model", path, "not in the model [layer9.weight]");

    // conversions
    snprintf(path, sizeof path, "%s/st_good.safetensors", g_dir);
    write_st(path, t, 4, NULL, 0);
    AptBackend *be = apt_backend_create("cpu");
    AptModelConfig mc = mlp_cfg(path);
    AptModel *m = apt_model_create(&mc, be, NULL, 1, 1, 1, 3, 1);
    AptParamStore *ps = apt_model_params(m);
    const float *w1 = apt_params_w(ps, apt_params_find(ps, "fc1.weight"));
    const float *b1 = apt_params_w(ps, apt_params_find(ps, "fc1.bias"));
    const float *w2 = apt_params_w(ps, apt_params_find(ps, "fc.weight"));
    const float *b2 = apt_params_w(ps, apt_params_find(ps, "fc.bias"));
    TEST_CHECK(!memcmp(w1, F16_WANT, sizeof F16_WANT), "F16 conversion: %g %g %g %g %g %g", w1[0], w1[1],
               w1[2], w1[3], w1[4], w1[5]);
    TEST_CHECK(b1[0] == 1.5f && b1[1] == -5.0f, "BF16 conversion: %g %g", b1[0], b1[1]);
    TEST_CHECK(w2[0] == 0.25f && w2[1] == -0.375f && w2[2] == 1024.0f && w2[3] == (float)1e-3,
               "F64 conversion");
    TEST_CHECK(b2[0] == 0.125f && b2[1] == -7.5f, "F32 copy");
    apt_model_destroy(m);

    // the head may be missing (fresh init, the same as without pretrained weights) or of another shape
    T nohead[2] = {t[0], t[1]};
    snprintf(path, sizeof path, "%s/st_nohead.safetensors", g_dir);
    write_st(path, nohead, 2, NULL, 0);
    AptModelConfig plain = mlp_cfg("");
    AptModel *ref = apt_model_create(&plain, be, NULL, 1, 1, 1, 3, 1);
    mc = mlp_cfg(path);
    m = apt_model_create(&mc, be, NULL, 1, 1, 1, 3, 1);
    ps = apt_model_params(m);
    AptParamStore *pr = apt_model_params(ref);
    int fw = apt_params_find(ps, "fc.weight");
    TEST_CHECK(!memcmp(apt_params_w(ps, fw), apt_params_w(pr, fw), 4 * sizeof(float)),
               "missing head: not the fresh init");
    TEST_CHECK(!memcmp(apt_params_w(ps, apt_params_find(ps, "fc1.weight")), F16_WANT, sizeof F16_WANT),
               "missing head: backbone not loaded");
    apt_model_destroy(m);
    T wide[4];
    memcpy(wide, t, sizeof wide);
    static const float W1000[6] = {1, 2, 3, 4, 5, 6};
    wide[2] = (T){"fc.weight", "F32", 2, {3, 2}, W1000, sizeof W1000}; // a 3-class "classifier"
    wide[3] = (T){"fc.bias", "F32", 1, {3}, W1000, 3 * sizeof(float)};
    snprintf(path, sizeof path, "%s/st_classifier.safetensors", g_dir);
    write_st(path, wide, 4, NULL, 0);
    mc = mlp_cfg(path);
    m = apt_model_create(&mc, be, NULL, 1, 1, 1, 3, 1);
    ps = apt_model_params(m);
    TEST_CHECK(!memcmp(apt_params_w(ps, fw), apt_params_w(pr, fw), 4 * sizeof(float)),
               "classifier-shaped head: not the fresh init");
    apt_model_destroy(m);
    apt_model_destroy(ref);
    apt_backend_destroy(be);
    const char *names[] = {"truncated", "badjson", "badlen", "missing",   "shape",
                           "extra",     "good",    "nohead", "classifier"};
    for (int i = 0; i < 9; i++) {
        snprintf(path, sizeof path, "%s/st_%s.safetensors", g_dir, names[i]);
        remove(path);
    }
    return apt_test_finish("test_safetensors");
}
