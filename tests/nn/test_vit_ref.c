// test_vit_ref.c — ViT-S/16 and ViT-B/16 (src/nn/vit.c) against a plain-PyTorch ViT written with timm's
// names and semantics (tests/ref/vit_ref.py, Debian python3-torch; fixtures written once per ctest run by
// the vit_ref_fixtures test). The weights are loaded through model.pretrained from timm-named safetensors
// of a 224×224 model (ImageNet head.* included and ignored), so names, shapes, the class-token / position
// layout and the resampling of pos_embed to other grids (timm: bicubic, antialias) are all exercised.
//
//   - pos_embed resampling 14×14 -> 4×4 and -> 16×16 vs torch F.interpolate(bicubic, antialias=True):
//     |diff| <= 1e-6 + 1e-5|ref| (float64 here vs float32 weights in torch: ~1e-7 on O(0.1) values);
//   - embeddings E (unit rows) of vit_s16 at 224 (T = 197, no resampling), at 64 (resampled, class
//     token and mean pooling) and vit_b16 at 32: ||E - E_torch|| / ||E_torch|| <= 1e-4;
//   - gradients of Σ dE·E for 15 named tensors (stem, first/middle/last block, final norm, head) of
//     vit_s16 at 64 and vit_b16 at 32: relative norm error <= 1e-4 per tensor.
// Why 1e-4: both sides are float32; twelve pre-norm blocks of 384-3072-term dot products (OpenBLAS vs
// torch's orders), softmax and LayerNorm give ~1e-6 relative (measured on this machine: embeddings <= 8.8e-7,
// gradients <= 1.7e-6; see the "ok" lines), so 1e-4 leaves a margin of ~60× for other BLAS kernels while a
// wrong index, a missing residual, a wrong scale or a transposed head is O(1).
// Also: a device parameter store (staged safetensors load and pos_embed resampling) gives the host model's
// embeddings bitwise (test_device_store); the shipped ViT-B/16 configs build their model (test_configs).
#include "config/config.h"
#include "dist/comm.h"
#include "harness.h"
#include "nn/model.h"
#include "nn/pos_embed.h"

#include <hdf5.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256];

static float *h5_read(hid_t f, const char *name, size_t *n_out) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "fixture %s missing\n", name);
        exit(1);
    }
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Sclose(sp);
    H5Dclose(d);
    if (n_out) *n_out = (size_t)n;
    return buf;
}

static void cmp_rel(const float *got, const float *want, size_t n, double tol, const char *label) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    double rel = sqrt(num) / fmax(sqrt(den), 1e-30);
    TEST_CHECK(rel <= tol, "%s: relative error %.3g > %.1g", label, rel, tol);
    if (rel <= tol) printf("ok   %s: relative error %.3g (bound %.1g)\n", label, rel, tol);
}

static void test_pos_resample(hid_t f, const char *arch, int D) {
    char name[64];
    snprintf(name, sizeof name, "pos/%s_14", arch);
    float *src = h5_read(f, name, NULL);
    for (int g = 4; g <= 16; g += 12) {
        snprintf(name, sizeof name, "pos/%s_%d", arch, g);
        size_t n;
        float *want = h5_read(f, name, &n);
        float *got = malloc(n * sizeof *got);
        apt_pos_embed_resample(src, 14, 14, got, g, g, D, 1);
        char l[96];
        snprintf(l, sizeof l, "%s pos_embed 14x14 -> %dx%d vs torch bicubic antialias", arch, g, g);
        expect_close_f(got, want, n, 1e-5, 1e-6, l);
        free(want), free(got);
    }
    free(src);
}

static const char *GRAD_NAMES[] = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
                                   "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
                                   "blocks.5.attn.proj.weight", "blocks.5.norm2.bias", "blocks.11.mlp.fc1.weight",
                                   "blocks.11.mlp.fc2.bias", "norm.weight", "norm.bias", "fc.weight", "fc.bias"};

// c: the fixture group (vit_ref.py CASES), with its arch, input size and pooling
static AptModel *load_case(AptBackend *be, hid_t f, const char *c, const char *arch, int size, const char *pool,
                           int n) {
    char p[160];
    AptModelConfig mc;
    memset(&mc, 0, sizeof mc);
    snprintf(mc.arch, sizeof mc.arch, "%s", arch);
    snprintf(mc.vit_pool, sizeof mc.vit_pool, "%s", pool);
    snprintf(mc.pretrained, sizeof mc.pretrained, "%s/%s.safetensors", g_dir, arch);
    mc.embed_dim = 32;
    AptModel *m = apt_model_create(&mc, be, NULL, n, 3, size, size, 5);
    AptParamStore *ps = apt_model_params(m);
    for (int k = 0; k < 2; k++) { // the embedding head is ours: take the reference's values
        const char *hn = k ? "fc.bias" : "fc.weight";
        size_t cnt;
        float *v = (snprintf(p, sizeof p, "%s/%s", c, hn), h5_read(f, p, &cnt));
        int idx = apt_params_find(ps, hn);
        TEST_CHECK(idx >= 0 && ps->p[idx].numel == cnt, "%s: %s shape", c, hn);
        if (idx >= 0) be->copy(be, apt_params_w(ps, idx), v, cnt * sizeof *v, APT_COPY_H2D);
        free(v);
    }
    return m;
}

// The same case on a "fakedev" table (the CPU table under another name): the parameter store lives
// "on the device", so the safetensors staging, the pos_embed resampling into the staged copy and the
// upload are exercised; the embeddings must equal the host model's bitwise.
static void test_device_store(hid_t f, const char *c, const char *arch, int size, const char *pool,
                              const float *x, int n, const float *want) {
    AptBackend *cpu = apt_backend_create("cpu");
    AptBackend *dev = malloc(sizeof *dev);
    memcpy(dev, cpu, sizeof *dev);
    dev->name = "fakedev";
    AptModel *m = load_case(dev, f, c, arch, size, pool, n);
    TEST_CHECK(apt_model_params(m)->on_device, "%s: fakedev store not on the device", c);
    float *got = malloc((size_t)n * 32 * sizeof *got);
    apt_model_forward(m, x, n, got, false);
    TEST_CHECK(!memcmp(got, want, (size_t)n * 32 * sizeof *got), "%s: device-store embeddings differ", c);
    printf("ok   %s: device store (staged load, resampled pos_embed) gives the same embeddings bitwise\n", c);
    apt_model_destroy(m);
    free(got), free(dev);
    apt_backend_destroy(cpu);
}

static void test_case(AptBackend *be, hid_t f, const char *c, const char *arch, int size, const char *pool) {
    char p[160], l[200];
    size_t nE, nx;
    float *x = (snprintf(p, sizeof p, "%s/x", c), h5_read(f, p, &nx));
    float *E = (snprintf(p, sizeof p, "%s/E", c), h5_read(f, p, &nE));
    const int D = 32, n = (int)(nE / D);
    AptModel *m = load_case(be, f, c, arch, size, pool, n);
    AptParamStore *ps = apt_model_params(m);
    float *got = malloc(nE * sizeof *got);
    apt_model_forward(m, x, n, got, false);
    snprintf(l, sizeof l, "%s (%s %dx%d, %s pool) embeddings vs PyTorch", c, arch, size, size, pool);
    cmp_rel(got, E, nE, 1e-4, l);
    if (!strcmp(c, "s16_64")) test_device_store(f, c, arch, size, pool, x, n, got);
    snprintf(p, sizeof p, "%s/dE", c);
    if (H5Lexists(f, p, H5P_DEFAULT) > 0) {
        float *dE = h5_read(f, p, NULL);
        apt_params_zero_grad(ps);
        apt_model_forward(m, x, n, got, true); // no drop-path, no BatchNorm: the same function as eval
        apt_model_backward(m, dE);
        for (size_t k = 0; k < sizeof GRAD_NAMES / sizeof *GRAD_NAMES; k++) {
            size_t cnt;
            float *want = (snprintf(p, sizeof p, "%s/grad/%s", c, GRAD_NAMES[k]), h5_read(f, p, &cnt));
            int idx = apt_params_find(ps, GRAD_NAMES[k]);
            TEST_CHECK(idx >= 0 && ps->p[idx].numel == cnt, "%s: %s missing or of another size", c, GRAD_NAMES[k]);
            if (idx >= 0 && ps->p[idx].numel == cnt) {
                snprintf(l, sizeof l, "%s gradient %s", c, GRAD_NAMES[k]);
                cmp_rel(apt_params_g(ps, idx), want, cnt, 1e-4, l);
            }
            free(want);
        }
        free(dE);
    }
    apt_model_destroy(m);
    free(x), free(E), free(got);
}

// The shipped ViT-B/16 configs load and validate, and (the first; their model sections are equal) build
// their model at 224×224: parameter count of timm's
// vit_base_patch16_224 without its classifier (86,567,656 - 769,000 = 85,798,656) plus our 768 -> 512 head;
// one image forward + backward gives a unit-norm embedding; the activation arena per image is printed
// (the configs' memory note).
static void test_configs(AptBackend *be) {
    const char *src = getenv("APT_SOURCE_DIR");
    const char *names[] = {"inaturalist_smoothap_vitb16.yaml", "inaturalist_pnp_vitb16.yaml"};
    AptComm *comm = apt_comm_create_self();
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/configs/%s", src ? src : ".", names[i]);
        AptConfig cfg;
        apt_config_defaults(&cfg);
        apt_config_load(&cfg, path);
        apt_config_validate(&cfg, 1);
        TEST_CHECK(!strcmp(cfg.model.arch, "vit_b16") && cfg.model.embed_dim == 512 && cfg.data.crop == 224 &&
                       cfg.eval.borrowed[0] && cfg.optim.name == APT_OPT_ADAMW,
                   "%s: not ViT-B/16 / 512-d / 224 / AdamW / borrowed settings named", names[i]);
        if (i > 0) continue; // the model sections of the two files are the same: build it once (CI time)
        AptModel *m = apt_model_create(&cfg.model, be, comm, 1, 3, cfg.data.crop, cfg.data.crop, cfg.seed);
        AptParamStore *ps = apt_model_params(m);
        size_t backbone = 0, head = 0;
        for (int k = 0; k < ps->n; k++)
            *(ps->p[k].is_head ? &head : &backbone) += ps->p[k].numel;
        TEST_CHECK(backbone == 85798656 && head == 768 * 512 + 512, "%s: %zu backbone + %zu head parameters", names[i],
                   backbone, head);
        float x[3 * 224 * 224], E[512], dE[512];
        for (int k = 0; k < 3 * 224 * 224; k++)
            x[k] = (float)((k * 7919) % 255) / 127.5f - 1.0f;
        for (int k = 0; k < 512; k++)
            dE[k] = (k % 3 - 1) * 0.1f;
        apt_model_forward(m, x, 1, E, true);
        double nrm = 0;
        for (int k = 0; k < 512; k++)
            nrm += (double)E[k] * E[k];
        TEST_CHECK(fabs(sqrt(nrm) - 1) < 1e-5, "%s: |E| = %g", names[i], sqrt(nrm));
        apt_params_zero_grad(ps);
        apt_model_backward(m, dE);
        printf("ok   %s: vit_b16 %zu + %zu parameters, activations %.1f MB per image at 224\n", names[i], backbone,
               head, apt_model_activation_bytes(m) / 1e6);
        apt_model_destroy(m);
    }
    comm->destroy(comm);
}

int main(int argc, char **argv) {
    const char *bin = getenv("APT_BINARY_DIR");
    if (!bin) {
        fprintf(stderr, "skipped: run through ctest (APT_BINARY_DIR)\n");
        return 77;
    }
    snprintf(g_dir, sizeof g_dir, "%s/tmp/vit_ref", bin);
    char path[512];
    snprintf(path, sizeof path, "%s/vit.h5", g_dir);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "skipped: %s missing (vit_ref_fixtures needs Debian's python3-torch and h5py)\n", path);
        return 77;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    AptBackend *be = apt_backend_create("cpu");
    // argv[1]: "s16" | "b16" (one ctest per size; both when absent)
    const bool s16 = argc < 2 || !strcmp(argv[1], "s16"), b16 = argc < 2 || !strcmp(argv[1], "b16");
    if (s16) {
        test_pos_resample(f, "vit_s16", 384);
        test_case(be, f, "s16_224", "vit_s16", 224, "token");
        test_case(be, f, "s16_64", "vit_s16", 64, "token");
        test_case(be, f, "s16_64_mean", "vit_s16", 64, "mean");
    }
    if (b16) {
        test_pos_resample(f, "vit_b16", 768);
        test_case(be, f, "b16_32", "vit_b16", 32, "token");
        test_configs(be);
    }
    H5Fclose(f);
    apt_backend_destroy(be);
    return apt_test_finish("test_vit_ref");
}
