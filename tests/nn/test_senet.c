// test_senet.c — model.arch senet50 (src/nn/senet.c) and the VGGFace2 SENet-50 import names
// (src/nn/senet_names.c).
//
//  - Name map: the table's rows (both the Caffe '/' and the port's '_' spellings) and names it must leave
//    alone.
//  - Against PyTorch: tests/ref/senet_ref.py (Debian python3-torch, run here) builds a plain SE-ResNet-50
//    written from the paper with the released model's Caffe layer names, random init, BN statistics and
//    SE biases randomised, input 2×3×64×64; its state dict (Caffe names) is imported through
//    model.pretrained. Eval-mode (frozen BN) embeddings: ‖E − E_torch‖ / ‖E_torch‖ ≤ 1e-4, and the
//    gradients of Σ dE·E for nine named tensors (stem, SE fc1/fc2 of the first and last blocks, the strided
//    1×1 conv1 and the projection of layer2.0, a BN, fc): relative norm error ≤ 1e-4. As for ResNet-50
//    (test_nn_ref.c): ~50 float32 layers with reordered sums give ~1e-6..1e-5; a wrong term (the stride on
//    the wrong conv, a missed SE path, a swapped name) is O(1).
//  - Export/import round trip: the imported model saved with apt_safetensors_save (our names) and loaded
//    into a senet50 of another seed gives the same tensors and the same embeddings, bitwise.
//  - The guard backend (device residency, DESIGN §2) gives the CPU's embeddings and gradients, bitwise.
#include "harness.h"
#include "nn/model.h"
#include "nn/safetensors.h"
#include "nn/senet_names.h"

#include <hdf5.h>
#include <math.h>
#include <string.h>

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
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        w += (double)want[i] * want[i];
    }
    double rel = sqrt(d) / (sqrt(w) + 1e-30);
    TEST_CHECK(rel <= tol, "%s: relative error %.3g > %.3g", label, rel, tol);
    printf("     %s: relative error %.3g (<= %.3g)\n", label, rel, tol);
}

static void test_names(void) {
    static const char *rows[][2] = {
        {"conv1/7x7_s2.weight", "conv1.weight"},
        {"conv1_7x7_s2_bn.running_var", "bn1.running_var"},
        {"conv1/7x7_s2/bn.bias", "bn1.bias"},
        {"conv2_1_1x1_reduce.weight", "layer1.0.conv1.weight"},
        {"conv2_1_1x1_reduce/bn.running_mean", "layer1.0.bn1.running_mean"},
        {"conv3_4_3x3_bn.weight", "layer2.3.bn2.weight"},
        {"conv4_6_1x1_increase.weight", "layer3.5.conv3.weight"},
        {"conv5_3_1x1_increase_bn.bias", "layer4.2.bn3.bias"},
        {"conv2_1_1x1_down.weight", "layer1.0.se.fc1.weight"},
        {"conv5_1_1x1_up.bias", "layer4.0.se.fc2.bias"},
        {"conv3_1_1x1_proj.weight", "layer2.0.downsample.0.weight"},
        {"conv3_1_1x1_proj_bn.running_var", "layer2.0.downsample.1.running_var"},
        {"classifier.weight", "fc.weight"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[128] = "";
        bool ok = apt_senet_caffe_name(rows[i][0], out, sizeof out);
        TEST_CHECK(ok && !strcmp(out, rows[i][1]), "name map: %s -> '%s', want %s", rows[i][0], out,
                   rows[i][1]);
    }
    static const char *keep[] = {"layer1.0.conv1.weight",
                                 "fc.bias",
                                 "conv6_1_3x3.weight",
                                 "conv2_0_3x3.weight",
                                 "conv2_1_1x1_down_bn.weight",
                                 "conv2_1_7x7.weight",
                                 "conv1.weight"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        char out[128];
        TEST_CHECK(!apt_senet_caffe_name(keep[i], out, sizeof out), "name map must not rename %s", keep[i]);
    }
    printf("ok   name map: %zu rows, %zu names left alone\n", sizeof rows / sizeof rows[0],
           sizeof keep / sizeof keep[0]);
}

static AptModel *senet(AptBackend *be, const char *pretrained, uint64_t seed) {
    AptModelConfig mc;
    memset(&mc, 0, sizeof mc);
    strcpy(mc.arch, "senet50");
    mc.embed_dim = 32;
    mc.bn = APT_BN_FROZEN;
    snprintf(mc.pretrained, sizeof mc.pretrained, "%s", pretrained);
    return apt_model_create(&mc, be, NULL, 2, 3, 64, 64, seed);
}

static const char *k_grads[] = {"conv1.weight",
                                "bn1.bias",
                                "layer1.0.se.fc1.weight",
                                "layer1.0.se.fc2.bias",
                                "layer2.0.conv1.weight",
                                "layer2.0.downsample.0.weight",
                                "layer3.5.bn3.weight",
                                "layer4.2.se.fc2.weight",
                                "fc.weight"};

int main(void) {
    test_names();
    const char *py = getenv("APT_PYTHON"), *src = getenv("APT_SOURCE_DIR"), *bin = getenv("APT_BINARY_DIR");
    if (!py || !src || !bin) {
        fprintf(stderr, "skipped: run through ctest (APT_PYTHON, APT_SOURCE_DIR, APT_BINARY_DIR)\n");
        return 77;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch, h5py' 2>/dev/null", py);
    if (system(cmd) != 0) {
        fprintf(stderr, "skipped: %s lacks torch/h5py (launch/install-deps.sh)\n", py);
        return 77;
    }
    if (snprintf(g_dir, sizeof g_dir, "%s/tmp/senet_ref", bin) >= (int)sizeof g_dir) return 77;
    snprintf(cmd, sizeof cmd, "%s %s/tests/ref/senet_ref.py %s", py, src, g_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "FAIL: %s\n", cmd);
        return 1;
    }
    AptBackend *be = apt_backend_create("cpu");
    char path[1100];
    snprintf(path, sizeof path, "%s/senet.h5", g_dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    float *x = h5_read(f, "x", NULL), *E = h5_read(f, "E", NULL), *dE = h5_read(f, "dE", NULL), got[64];
    snprintf(path, sizeof path, "%s/senet50_caffe.safetensors", g_dir);
    AptModel *m = senet(be, path, 5);
    apt_model_forward(m, x, 2, got, false);
    cmp_rel(got, E, 64, 1e-4, "senet50 (Caffe names imported) eval embeddings vs PyTorch");
    apt_model_forward(m, x, 2, got, true); // frozen BN: train forward = eval forward
    apt_model_backward(m, dE);
    AptParamStore *ps = apt_model_params(m);
    for (size_t i = 0; i < sizeof k_grads / sizeof k_grads[0]; i++) {
        char p[160], l[200];
        snprintf(p, sizeof p, "grad_eval/%s", k_grads[i]);
        size_t n;
        float *want = h5_read(f, p, &n);
        int idx = apt_params_find(ps, k_grads[i]);
        TEST_CHECK(idx >= 0 && ps->p[idx].numel == n, "%s: missing or %zu values", k_grads[i], n);
        if (idx >= 0 && ps->p[idx].numel == n) {
            snprintf(l, sizeof l, "senet50 frozen BN: grad %s vs autograd", k_grads[i]);
            cmp_rel(apt_params_g(ps, idx), want, n, 1e-4, l);
        }
        free(want);
    }
    H5Fclose(f);

    // round trip: export with our names, import into a model of another seed
    snprintf(path, sizeof path, "%s/senet50_ours.safetensors", g_dir);
    TEST_CHECK(apt_safetensors_save(ps, path) == 0, "export %s", path);
    AptModel *m2 = senet(be, path, 99);
    AptParamStore *ps2 = apt_model_params(m2);
    int same = ps2->n == ps->n;
    for (int i = 0; same && i < ps->n; i++)
        same = !strcmp(ps->p[i].name, ps2->p[i].name) && ps->p[i].numel == ps2->p[i].numel &&
               !memcmp(apt_params_w(ps, i), apt_params_w(ps2, i), ps->p[i].numel * sizeof(float));
    TEST_CHECK(same, "round trip: tensors differ after export/import");
    float e1[64], e2[64];
    apt_model_forward(m, x, 2, e1, false);
    apt_model_forward(m2, x, 2, e2, false);
    TEST_CHECK(!memcmp(e1, e2, sizeof e1), "round trip: embeddings differ");
    printf("     round trip: %d tensors, embeddings bitwise equal\n", ps->n);
    // device residency: the guard backend (the CPU kernels over memory host code cannot read) gives the
    // same embeddings and gradients, bitwise
    {
        AptBackend *gb = apt_backend_guard_create();
        AptModel *mg = senet(gb, path, 7);
        float eg[64], et[64];
        apt_model_forward(m, x, 2, et, true);
        apt_model_forward(mg, x, 2, eg, true);
        apt_params_zero_grad(ps);
        apt_model_backward(m, dE);
        apt_model_backward(mg, dE);
        AptParamStore *psg = apt_model_params(mg);
        float *gh = malloc(psg->numel * sizeof *gh);
        gb->copy(gb, gh, psg->g, psg->numel * sizeof *gh, APT_COPY_D2H);
        TEST_CHECK(!memcmp(eg, et, sizeof eg) && psg->numel == ps->numel &&
                       !memcmp(gh, ps->g, ps->numel * sizeof *gh),
                   "guard backend: embeddings or gradients differ from the CPU's");
        printf("     guard backend: embeddings and %zu gradients bitwise equal to the CPU's\n", ps->numel);
        free(gh);
        apt_model_destroy(mg);
        apt_backend_destroy(gb);
    }
    apt_model_destroy(m2);
    apt_model_destroy(m);
    apt_backend_destroy(be);
    free(x), free(E), free(dE);
    return apt_test_finish("test_senet");
}
