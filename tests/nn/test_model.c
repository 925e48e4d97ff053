// test_model.c — the AptModel façade on the small CNN and the MLP, every BatchNorm mode:
//   - E rows are unit vectors, shapes follow embed_dim, a batch smaller than b_max works;
//   - the same seed gives bitwise-identical weights and embeddings, another seed differs; backward is
//     bitwise repeatable;
//   - backward is the gradient of forward (small CNN, MLP): a directional derivative of L = Σ r·E along a
//   random unit
//     direction of all trainable parameters, by float32 central differences (ε = 1e-3), matches g·v within
//     2% + 1e-4 — float32 forward noise (~1e-7/ε) and the O(ε²) term are far below that, a missing or
//     wrong term of the backward is not;
//   - frozen_affine leaves gamma/beta without gradient; running statistics move only in local mode.
#include "core/rng.h"
#include "harness.h"
#include "core/arch_names.h"
#include "nn/model.h"
#include "nn/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static AptModelConfig cfg(const char *arch, AptBNMode bn) {
    AptModelConfig mc;
    memset(&mc, 0, sizeof mc);
    strcpy(mc.arch, arch);
    mc.embed_dim = 24;
    mc.bn = bn;
    mc.head_init_std = 0.1; // larger than the official 0.01 so that the head is not nearly isotropic
    mc.width = 8;
    mc.hidden = 17;
    return mc;
}

// Backward progress hook: at each call, a checksum of the gradients at offsets >= lo; they must equal
// the final gradients' checksums over the same ranges (those gradients were already final).
typedef struct {
    AptParamStore *ps;
    int n;
    size_t lo[64];
    double sum[64];
} HookLog;

static double checksum(const float *g, size_t lo, size_t hi) {
    double s = 0;
    for (size_t i = lo; i < hi; i++)
        s += (double)g[i] * (1.0 + (double)(i % 97) / 97.0);
    return s;
}

static void hook(void *ctx, size_t lo) {
    HookLog *h = ctx;
    if (h->n < 64) {
        h->lo[h->n] = lo;
        h->sum[h->n] = checksum(h->ps->g, lo, h->ps->numel);
    }
    h->n++;
}

static double loss_of(AptModel *m, const float *x, int b, const float *r, float *E) {
    apt_model_forward(m, x, b, E, true);
    double L = 0;
    for (int i = 0; i < b * apt_model_embed_dim(m); i++)
        L += (double)r[i] * E[i];
    return L;
}

static void check_model(const char *arch, AptBNMode bn, int C, int H, int W, bool fd_check) {
    AptBackend *be = apt_backend_create("cpu");
    AptComm *comm = apt_comm_create_self();
    const int bmax = 6, b = 5, D = 24;
    AptModelConfig mc = cfg(arch, bn);
    AptModel *m = apt_model_create(&mc, be, comm, bmax, C, H, W, 7);
    AptParamStore *ps = apt_model_params(m);
    size_t nx = (size_t)bmax * C * H * W;
    float *x = malloc(nx * sizeof *x), *E = malloc((size_t)bmax * D * sizeof *E),
          *r = malloc((size_t)bmax * D * sizeof *r);
    AptRngStream rng = apt_rng_stream(3, APT_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)apt_rng_next_normal(&rng);
    for (int i = 0; i < bmax * D; i++)
        r[i] = (float)apt_rng_next_normal(&rng);
    char label[128];

    apt_model_forward(m, x, b, E, true);
    double worst = 0;
    for (int i = 0; i < b; i++) {
        double s = 0;
        for (int j = 0; j < D; j++)
            s += (double)E[i * D + j] * E[i * D + j];
        if (fabs(sqrt(s) - 1) > worst) worst = fabs(sqrt(s) - 1);
    }
    TEST_CHECK(worst < 1e-6, "%s bn%d: rows not unit norm (%.3g)", arch, bn, worst);
    TEST_CHECK(apt_model_embed_dim(m) == D, "embed_dim");

    // determinism of init and forward
    AptModel *m2 = apt_model_create(&mc, be, comm, bmax, C, H, W, 7);
    AptModelConfig mc3 = mc;
    AptModel *m3 = apt_model_create(&mc3, be, comm, bmax, C, H, W, 8);
    float *E2 = malloc((size_t)bmax * D * sizeof *E2);
    apt_model_forward(m2, x, b, E2, true);
    TEST_CHECK(!memcmp(ps->w, apt_model_params(m2)->w, ps->numel * sizeof(float)),
               "%s: same seed, other weights", arch);
    TEST_CHECK(!memcmp(E, E2, (size_t)b * D * sizeof(float)), "%s: same seed, other embeddings", arch);
    TEST_CHECK(memcmp(ps->w, apt_model_params(m3)->w, ps->numel * sizeof(float)), "%s: seed ignored", arch);

    // backward is bitwise repeatable (determinism contract), then vs a directional finite difference
    float *g1 = malloc(ps->numel * sizeof *g1);
    apt_params_zero_grad(ps);
    loss_of(m, x, b, r, E);
    apt_model_backward(m, r);
    memcpy(g1, ps->g, ps->numel * sizeof *g1);
    apt_params_zero_grad(ps);
    loss_of(m, x, b, r, E);
    apt_model_backward(m, r);
    TEST_CHECK(!memcmp(g1, ps->g, ps->numel * sizeof *g1), "%s bn%d: two backward passes differ", arch, bn);
    free(g1);
    { // the gradient-ready hook reports only final gradients, in decreasing offsets, ending at 0
        HookLog h = {.ps = ps};
        apt_model_set_grad_ready_hook(m, hook, &h);
        apt_params_zero_grad(ps);
        loss_of(m, x, b, r, E);
        apt_model_backward(m, r);
        apt_model_set_grad_ready_hook(m, NULL, NULL);
        bool ok = h.n >= 2 && h.n <= 64 && h.lo[h.n - 1] == 0;
        for (int i = 0; ok && i < h.n; i++) {
            ok = (i == 0 || h.lo[i] < h.lo[i - 1]) && h.sum[i] == checksum(ps->g, h.lo[i], ps->numel);
            if (!ok) fprintf(stderr, "  hook call %d: lo %zu\n", i, h.lo[i]);
        }
        TEST_CHECK(ok, "%s bn%d: grad-ready hook (%d calls) reported non-final gradients or bad order", arch,
                   bn, h.n);
    }
    float *v = calloc(ps->numel, sizeof *v), *w0 = malloc(ps->numel * sizeof *w0);
    memcpy(w0, ps->w, ps->numel * sizeof *w0);
    double vn = 0, gv = 0;
    for (int i = 0; i < ps->n; i++) {
        const AptParam *p = &ps->p[i];
        if (p->is_buffer || !p->trainable) continue;
        for (size_t k = 0; k < p->numel; k++) {
            v[p->offset + k] = (float)apt_rng_next_normal(&rng);
            vn += (double)v[p->offset + k] * v[p->offset + k];
        }
    }
    vn = sqrt(vn);
    for (size_t k = 0; k < ps->numel; k++) {
        v[k] = (float)(v[k] / vn);
        gv += (double)ps->g[k] * v[k];
    }
    const double eps = 1e-3;
    for (size_t k = 0; k < ps->numel; k++)
        ps->w[k] = w0[k] + (float)eps * v[k];
    double Lp = loss_of(m, x, b, r, E);
    for (size_t k = 0; k < ps->numel; k++)
        ps->w[k] = w0[k] - (float)eps * v[k];
    double Lm = loss_of(m, x, b, r, E);
    memcpy(ps->w, w0, ps->numel * sizeof *w0);
    double fd = (Lp - Lm) / (2 * eps);
    snprintf(label, sizeof label, "%s bn%d: directional derivative g.v vs FD", arch, bn);
    if (fd_check) expect_close_d(&gv, &fd, 1, 2e-2, 1e-4, label);
    TEST_CHECK(fabs(gv) > 1e-3, "%s: gradient suspiciously small (%g)", arch, gv);

    // per-mode properties of BatchNorm
    int gi = apt_params_find(ps, "bn1.weight"), rm = apt_params_find(ps, "bn1.running_mean");
    if (gi >= 0) {
        bool frozen_affine = bn == APT_BN_FROZEN_AFFINE;
        TEST_CHECK(ps->p[gi].trainable == !frozen_affine, "%s: bn1.weight trainable flag", arch);
        float *rmw = apt_params_w(ps, rm);
        bool moved = false;
        for (size_t k = 0; k < ps->p[rm].numel; k++)
            moved |= rmw[k] != 0.0f;
        TEST_CHECK(moved == (bn == APT_BN_LOCAL || bn == APT_BN_SYNC), "%s bn%d: running_mean moved=%d", arch,
                   bn, moved);
    }
    // eval mode on a smaller batch is deterministic and unit-norm
    apt_model_forward(m, x, 2, E, false);
    apt_model_forward(m, x, 2, E2, false);
    TEST_CHECK(!memcmp(E, E2, 2 * D * sizeof(float)), "%s: eval forward not repeatable", arch);

    free(x), free(E), free(E2), free(r), free(v), free(w0);
    apt_model_destroy(m);
    apt_model_destroy(m2);
    apt_model_destroy(m3);
    apt_backend_destroy(be);
    apt_comm_finalize(comm);
}

// A device store (params in backend memory): a "fakedev" table that is the CPU table under another name
// sends apt_params_finalize_on, the init upload and the safetensors staging down their device paths;
// the results must equal the host store's bitwise, and weights saved from one must load into the other.
static void check_device_store(void) {
    AptBackend *cpu = apt_backend_create("cpu");
    AptBackend *dev = malloc(sizeof *dev);
    memcpy(dev, cpu, sizeof *dev);
    dev->name = "fakedev";
    AptModelConfig mc = cfg("resnet18", APT_BN_FROZEN);
    const int b = 2, D = 24;
    AptModel *a = apt_model_create(&mc, cpu, NULL, b, 3, 32, 32, 11);
    AptModel *d = apt_model_create(&mc, dev, NULL, b, 3, 32, 32, 11);
    AptParamStore *pa = apt_model_params(a), *pd = apt_model_params(d);
    TEST_CHECK(!pa->on_device && pd->on_device, "device store flags");
    TEST_CHECK(!memcmp(pa->w, pd->w, pa->numel * sizeof(float)), "device store: init differs from host");
    TEST_CHECK(!memcmp(pa->buffers, pd->buffers, pa->buffers_numel * sizeof(float)),
               "device store: buffers differ");
    float x[2 * 3 * 32 * 32], Ea[2 * 24], Ed[2 * 24], dE[2 * 24];
    AptRngStream rng = apt_rng_stream(5, APT_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = (float)apt_rng_next_normal(&rng);
    for (int i = 0; i < b * D; i++)
        dE[i] = (float)apt_rng_next_normal(&rng);
    apt_model_forward(a, x, b, Ea, true);
    apt_model_forward(d, x, b, Ed, true);
    apt_model_backward(a, dE);
    apt_model_backward(d, dE);
    TEST_CHECK(!memcmp(Ea, Ed, sizeof Ea), "device store: embeddings differ");
    TEST_CHECK(!memcmp(pa->g, pd->g, pa->numel * sizeof(float)), "device store: gradients differ");
    apt_params_zero_grad(pd);
    bool zero = true;
    for (size_t i = 0; i < pd->numel; i++)
        zero &= pd->g[i] == 0.0f;
    TEST_CHECK(zero, "device store: zero_grad");
    // safetensors: host save -> device load (another seed first), device save -> host load
    const char *bin = getenv("APT_BINARY_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/test_model_roundtrip.safetensors", bin ? bin : "/tmp");
    TEST_CHECK(apt_safetensors_save(pa, path) == 0, "safetensors save");
    AptModel *d2 = apt_model_create(&mc, dev, NULL, b, 3, 32, 32, 99);
    TEST_CHECK(memcmp(pa->w, apt_model_params(d2)->w, pa->numel * sizeof(float)), "seed 99 equals seed 11");
    TEST_CHECK(apt_safetensors_load(apt_model_params(d2), path) == pa->n, "safetensors load count");
    TEST_CHECK(apt_model_params(d2)->on_device, "device store after load");
    apt_model_forward(d2, x, b, Ed, false);
    apt_model_forward(a, x, b, Ea, false);
    TEST_CHECK(!memcmp(Ea, Ed, sizeof Ea), "safetensors round trip into a device store: embeddings differ");
    remove(path);
    apt_model_destroy(d2);
    apt_model_destroy(a);
    apt_model_destroy(d);
    free(dev);
    apt_backend_destroy(cpu);
}

// Every row of arch_names.h builds through apt_model_create and gives unit-norm embeddings (one 32x32
// RGB image, eval forward): a new table row with a missing or broken constructor fails here.
static void check_every_arch(void) {
#define ARCH_NAME_(ID, NAME, CREATE, VARIANT) NAME,
    static const char *names[] = {APT_ARCH_TABLE(ARCH_NAME_)};
#undef ARCH_NAME_
    AptBackend *be = apt_backend_create("cpu");
    for (int a = 0; a < APT_ARCH_COUNT; a++) {
        AptModelConfig mc = cfg(names[a], APT_BN_FROZEN);
        AptModel *m = apt_model_create(&mc, be, NULL, 1, 3, 32, 32, 5);
        float x[3 * 32 * 32], E[24];
        for (int i = 0; i < 3 * 32 * 32; i++)
            x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
        apt_model_forward(m, x, 1, E, false);
        double n2 = 0;
        for (int d = 0; d < 24; d++)
            n2 += (double)E[d] * E[d];
        TEST_CHECK(fabs(n2 - 1.0) < 1e-5, "arch %s: |E|^2 = %.7f", names[a], n2);
        apt_model_destroy(m);
    }
    apt_backend_destroy(be);
    printf("ok   every arch of arch_names.h (%d) builds and embeds\n", APT_ARCH_COUNT);
}

int main(void) {
    check_every_arch();
    check_device_store();
    check_model("smallcnn", APT_BN_FROZEN, 1, 13, 11, true);
    check_model("smallcnn", APT_BN_FROZEN_AFFINE, 1, 13, 11, true);
    check_model("smallcnn", APT_BN_LOCAL, 1, 13, 11, true);
    check_model("smallcnn", APT_BN_SYNC, 2, 9, 9, false);
    check_model("smallcnn-flat", APT_BN_FROZEN, 1, 13, 11, true); // finite differences: frozen BN only (ReLU
    check_model("smallcnn-flat", APT_BN_LOCAL, 1, 13, 11, false);  // kinks of conv4 make the others ill-conditioned)
    check_model("mlp", APT_BN_FROZEN, 1, 5, 7, true);
    // ResNets: float32 central differences of a 20-layer net are dominated by rounding and ReLU/max-pool
    // switches at any ε (measured: the estimate moves by 3x between ε = 3e-4 and 1e-4), so their
    // gradients are checked against torch autograd in test_resnet_ref instead.
    check_model("resnet18", APT_BN_FROZEN, 3, 33, 29, false);
    check_model("resnet18", APT_BN_LOCAL, 3, 67, 61, false);
    return apt_test_finish("test_model");
}
