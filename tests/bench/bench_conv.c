// bench_conv.c — CPU convolution routes on the shapes that matter: every distinct conv of ResNet-18 at
// 112×112 and of the quickstart small CNN at 28×28, batch 64. Routes:
//   im2col   im2col + one OpenBLAS SGEMM per chunk (cpu_conv.c)
//   dnnl     oneDNN primitives on our plain NCHW/OIHW layouts
//   dnnl-blk oneDNN on its blocked layouts with reorders around every call (PyTorch/ideep's way)
// Prints per shape the time of forward, backward-data and backward-weights (best of --reps) and the max
// |diff| / max|ref| of the oneDNN outputs against im2col, then the totals weighted by how often each shape
// occurs in one network pass. Not a ctest; figures go to tests/bench/RESULTS.md.
//   OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 ./bench_conv [--batch 64] [--reps 3]
#include "backend/backend.h"
#include "backend/cpu/cpu_conv_dnnl.h"
#include "backend/cpu/cpu_ops.h"
#include "core/rng.h"
#include "core/timer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *net;
    int count; // occurrences in one pass of the network
    int C, H, W, K, k, stride, pad;
} Shape;

static const Shape SHAPES[] = {
    {"resnet18", 1, 3, 112, 112, 64, 7, 2, 3},  // conv1
    {"resnet18", 4, 64, 28, 28, 64, 3, 1, 1},   // layer1
    {"resnet18", 1, 64, 28, 28, 128, 3, 2, 1},  // layer2.0.conv1
    {"resnet18", 3, 128, 14, 14, 128, 3, 1, 1}, // layer2
    {"resnet18", 1, 64, 28, 28, 128, 1, 2, 0},  // layer2.0.downsample
    {"resnet18", 1, 128, 14, 14, 256, 3, 2, 1}, // layer3.0.conv1
    {"resnet18", 3, 256, 7, 7, 256, 3, 1, 1},   // layer3
    {"resnet18", 1, 128, 14, 14, 256, 1, 2, 0}, // layer3.0.downsample
    {"resnet18", 1, 256, 7, 7, 512, 3, 2, 1},   // layer4.0.conv1
    {"resnet18", 3, 512, 4, 4, 512, 3, 1, 1},   // layer4
    {"resnet18", 1, 256, 7, 7, 512, 1, 2, 0},   // layer4.0.downsample
    {"smallcnn", 1, 1, 28, 28, 32, 3, 1, 1},    {"smallcnn", 1, 32, 14, 14, 64, 3, 1, 1},
    {"smallcnn", 1, 64, 7, 7, 128, 3, 1, 1},
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof *SHAPES))
#define NROUTES 3
static const char *ROUTES[NROUTES] = {"im2col", "dnnl", "dnnl-blk"};

static float *randv(size_t n, uint32_t sample) {
    float *v = malloc(n * sizeof *v);
    AptRngStream r = apt_rng_stream(9, APT_RNG_TEST, 0, 0, sample);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(2.0 * apt_rng_next_double(&r) - 1.0);
    return v;
}

static double maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static double maxabs(const float *a, size_t n) {
    double m = 1e-30;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

int main(int argc, char **argv) {
    int N = 64, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch"))
            N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
    }
    AptBackend *be = apt_backend_create("cpu");
    ((AptCpuImpl *)be->impl)->conv_route = APT_CONV_IM2COL; // the table's ops = the im2col route here
#ifdef APT_HAVE_DNNL
    AptDnnl *dn = apt_dnnl_create();
#endif
    double tot[2][NROUTES][3] = {{{0}}};
    printf("batch %d, best of %d; times in ms (fwd / bwd-data / bwd-weights)\n", N, reps);
    printf("%-9s %-26s", "net", "shape");
    for (int r = 0; r < NROUTES; r++)
        printf(" | %-22s", ROUTES[r]);
    printf(" | max rel diff vs im2col\n");
    for (int s = 0; s < NSHAPES; s++) {
        const Shape *sh = &SHAPES[s];
        AptConvDesc d;
        apt_conv_desc_init(&d, N, sh->C, sh->H, sh->W, sh->K, sh->k, sh->k, sh->stride, sh->pad);
        be->conv2d_prepare(be, &d);
        size_t nx = (size_t)N * sh->C * sh->H * sh->W, nw = (size_t)sh->K * sh->C * sh->k * sh->k;
        size_t ny = (size_t)N * sh->K * d.P * d.Q;
        float *x = randv(nx, 1), *w = randv(nw, 2), *dy = randv(ny, 3);
        float *y[NROUTES], *dx[NROUTES], *dw[NROUTES];
        double best[NROUTES][3];
        for (int r = 0; r < NROUTES; r++) {
            y[r] = calloc(ny, sizeof(float)), dx[r] = calloc(nx, sizeof(float)),
            dw[r] = calloc(nw, sizeof(float));
            for (int o = 0; o < 3; o++)
                best[r][o] = INFINITY;
        }
        for (int r = 0; r < NROUTES; r++) {
#ifdef APT_HAVE_DNNL
            AptDnnlConv *cv = r ? apt_dnnl_conv_create(dn, &d, r == 2, false) : NULL;
#else
            if (r) continue;
#endif
            for (int it = 0; it <= reps; it++) { // iteration 0 warms up
                for (int o = 0; o < 3; o++) {
                    memset(dw[r], 0, nw * sizeof(float));
                    double t0 = apt_time_now();
                    if (r == 0) {
                        if (o == 0)
                            be->conv2d_forward(be, &d, N, apt_f32(x), apt_f32(w), NULL, apt_f32(y[r]));
                        if (o == 1)
                            be->conv2d_backward_data(be, &d, N, apt_f32(dy), apt_f32(w), apt_f32(dx[r]));
                        if (o == 2)
                            be->conv2d_backward_weights(be, &d, N, apt_f32(x), apt_f32(dy), dw[r], NULL);
                    }
#ifdef APT_HAVE_DNNL
                    else {
                        if (o == 0) apt_dnnl_conv_forward(cv, N, x, w, NULL, y[r]);
                        if (o == 1) apt_dnnl_conv_backward_data(cv, N, dy, w, dx[r]);
                        if (o == 2) apt_dnnl_conv_backward_weights(cv, N, x, dy, dw[r], NULL);
                    }
#endif
                    double t = apt_time_now() - t0;
                    if (it && t < best[r][o]) best[r][o] = t;
                }
            }
#ifdef APT_HAVE_DNNL
            apt_dnnl_conv_destroy(cv);
#endif
        }
        char desc[64];
        snprintf(desc, sizeof desc, "%dx%dx%d k%d/%d ->%d x%d", sh->C, sh->H, sh->W, sh->k, sh->stride, sh->K,
                 sh->count);
        printf("%-9s %-26s", sh->net, desc);
        int net = strcmp(sh->net, "resnet18") != 0;
        for (int r = 0; r < NROUTES; r++) {
            printf(" | %6.1f %6.1f %6.1f   ", 1e3 * best[r][0], 1e3 * best[r][1], 1e3 * best[r][2]);
            for (int o = 0; o < 3; o++)
                tot[net][r][o] += sh->count * best[r][o];
        }
        double md = 0;
        for (int r = 1; r < NROUTES; r++) {
            md = fmax(md, maxdiff(y[r], y[0], ny) / maxabs(y[0], ny));
            md = fmax(md, maxdiff(dx[r], dx[0], nx) / maxabs(dx[0], nx));
            md = fmax(md, maxdiff(dw[r], dw[0], nw) / maxabs(dw[0], nw));
        }
        printf(" | %.2g\n", md);
        for (int r = 0; r < NROUTES; r++)
            free(y[r]), free(dx[r]), free(dw[r]);
        free(x), free(w), free(dy);
        be->conv2d_release(be, &d);
    }
    for (int net = 0; net < 2; net++) {
        printf("%-9s %-26s", net ? "smallcnn" : "resnet18", "TOTAL (weighted)");
        for (int r = 0; r < NROUTES; r++)
            printf(" | %6.0f %6.0f %6.0f   ", 1e3 * tot[net][r][0], 1e3 * tot[net][r][1],
                   1e3 * tot[net][r][2]);
        printf("\n");
        for (int r = 0; r < NROUTES; r++)
            printf("  %-9s fwd+bwd total %.0f ms\n", ROUTES[r],
                   1e3 * (tot[net][r][0] + tot[net][r][1] + tot[net][r][2]));
    }
#ifdef APT_HAVE_DNNL
    apt_dnnl_destroy(dn);
#endif
    apt_backend_destroy(be);
    return 0;
}
