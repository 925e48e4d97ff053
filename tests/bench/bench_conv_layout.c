// bench_conv_layout.c — which activation layout the CPU bf16 convolutions should use (README "Precision",
// tests/bench/RESULTS.md): oneDNN 2.6's bf16 primitives (bf16 src/weights/diff_dst, bf16 dst, f32
// diff_src/diff_weights) on every distinct convolution of ResNet-50 at 224x224, three routes:
//   nchw-blk  our buffers NCHW, primitives on oneDNN's preferred (blocked) layouts, reorders around every
//             call — the route cpu_conv_dnnl.c takes;
//   nchw      primitives created on plain NCHW (no activation reorders);
//   nhwc      our buffers NHWC and primitives created on NHWC (no activation reorders; the layout cuDNN
//             and PyTorch's channels_last use).
// The weights are OIHW in our store on every route and reordered (or not) as the primitive asks.
// Prints per shape the time of forward, backward-data and backward-weights (best of --reps, after a
// warm-up) and the implementation oneDNN picked, then the totals weighted by how often each shape occurs
// in one pass of the network. Not a ctest.
//   OMP_NUM_THREADS=1 ./bench_conv_layout [--batch 8] [--reps 3] [--size 224]
#include "core/timer.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef APT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

#define CK(call)                                                                                             \
    do {                                                                                                     \
        dnnl_status_t s_ = (call);                                                                           \
        if (s_ != dnnl_success) {                                                                            \
            fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #call, (int)s_);                  \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

typedef struct {
    int count, C, H, W, K, k, stride, pad; // H, W at 224x224 input
} Shape;

// ResNet-50 (torchvision v1.5: stride on the 3x3), every distinct convolution and its count per pass.
static const Shape SHAPES[] = {
    {1, 3, 224, 224, 64, 7, 2, 3},                                  // conv1
    {1, 64, 56, 56, 64, 1, 1, 0},     {3, 64, 56, 56, 64, 3, 1, 1}, // layer1
    {3, 64, 56, 56, 256, 1, 1, 0},    {2, 256, 56, 56, 64, 1, 1, 0},   {1, 64, 56, 56, 256, 1, 1, 0}, // +ds
    {1, 256, 56, 56, 128, 1, 1, 0},   {1, 128, 56, 56, 128, 3, 2, 1}, // layer2.0
    {4, 128, 28, 28, 512, 1, 1, 0},   {3, 512, 28, 28, 128, 1, 1, 0},  {3, 128, 28, 28, 128, 3, 1, 1},
    {1, 256, 56, 56, 512, 1, 2, 0},                                   // layer2 ds
    {1, 512, 28, 28, 256, 1, 1, 0},   {1, 256, 28, 28, 256, 3, 2, 1}, // layer3.0
    {6, 256, 14, 14, 1024, 1, 1, 0},  {5, 1024, 14, 14, 256, 1, 1, 0}, {5, 256, 14, 14, 256, 3, 1, 1},
    {1, 512, 28, 28, 1024, 1, 2, 0},                                  // layer3 ds
    {1, 1024, 14, 14, 512, 1, 1, 0},  {1, 512, 14, 14, 512, 3, 2, 1}, // layer4.0
    {3, 512, 7, 7, 2048, 1, 1, 0},    {2, 2048, 7, 7, 512, 1, 1, 0},   {2, 512, 7, 7, 512, 3, 1, 1},
    {1, 1024, 14, 14, 2048, 1, 2, 0}, // layer4 ds
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof *SHAPES))
#define NROUTES 3
static const char *ROUTES[NROUTES] = {"nchw-blk", "nchw", "nhwc"};

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static void md4(dnnl_memory_desc_t *m, int a, int b, int c, int d, dnnl_data_type_t dt,
                dnnl_format_tag_t tag) {
    dnnl_dims_t dims = {a, b, c, d};
    CK(dnnl_memory_desc_init_by_tag(m, 4, dims, dt, tag));
}

// One argument: our buffer (user) and, when the primitive wants another layout, its own copy + reorder.
typedef struct {
    dnnl_memory_t user, inner;
    dnnl_primitive_t re;
    bool out;
} Arg;

static void arg_init(Arg *a, const_dnnl_primitive_desc_t pd, dnnl_query_t q, const dnnl_memory_desc_t *plain,
                     void *buf, bool out) {
    a->out = out;
    CK(dnnl_memory_create(&a->user, plain, eng, buf));
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, q, 0);
    a->re = NULL;
    a->inner = a->user;
    if (dnnl_memory_desc_equal(want, plain)) return;
    CK(dnnl_memory_create(&a->inner, want, eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    if (out)
        CK(dnnl_reorder_primitive_desc_create(&rpd, want, eng, plain, eng, NULL));
    else
        CK(dnnl_reorder_primitive_desc_create(&rpd, plain, eng, want, eng, NULL));
    CK(dnnl_primitive_create(&a->re, rpd));
    dnnl_primitive_desc_destroy(rpd);
}

static void reorder(Arg *a) {
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, a->out ? a->inner : a->user},
                             {DNNL_ARG_TO, a->out ? a->user : a->inner}};
    CK(dnnl_primitive_execute(a->re, strm, 2, ra));
}

// Run prim with 3 arguments (two inputs, one output), reordering around it; returns seconds.
static double run3(dnnl_primitive_t prim, const int kinds[3], Arg a[3]) {
    double t0 = apt_time_now();
    for (int i = 0; i < 3; i++)
        if (a[i].re && !a[i].out) reorder(&a[i]);
    dnnl_exec_arg_t args[3];
    for (int i = 0; i < 3; i++)
        args[i] = (dnnl_exec_arg_t){kinds[i], a[i].inner};
    CK(dnnl_primitive_execute(prim, strm, 3, args));
    for (int i = 0; i < 3; i++)
        if (a[i].re && a[i].out) reorder(&a[i]);
    CK(dnnl_stream_wait(strm));
    return apt_time_now() - t0;
}

static void arg_free(Arg *a) {
    if (a->re) dnnl_primitive_destroy(a->re), dnnl_memory_destroy(a->inner);
    dnnl_memory_destroy(a->user);
}

static const char *impl_of(const_dnnl_primitive_desc_t pd) {
    const char *s = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    return s;
}

int main(int argc, char **argv) {
    int N = 8, reps = 3, size = 224;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch"))
            N = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size"))
            size = atoi(argv[i + 1]);
    }
    CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    double tot[NROUTES][3] = {{0}};
    printf("ResNet-50 convolutions at %dx%d, batch %d, bf16 (fp32 accumulation), best of %d; ms fwd / "
           "bwd-data / "
           "bwd-weights\n",
           size, size, N, reps);
    for (int s = 0; s < NSHAPES; s++) {
        const Shape *sh = &SHAPES[s];
        const int H = sh->H * size / 224, W = sh->W * size / 224;
        const int P = (H + 2 * sh->pad - sh->k) / sh->stride + 1,
                  Q = (W + 2 * sh->pad - sh->k) / sh->stride + 1;
        const size_t nx = (size_t)N * sh->C * H * W, ny = (size_t)N * sh->K * P * Q,
                     nw = (size_t)sh->K * sh->C * sh->k * sh->k;
        // Random-ish contents (the speed does not depend on them; bf16 1.0 .. 1.99).
        uint16_t *x = malloc(nx * 2), *y = malloc(ny * 2), *dy = malloc(ny * 2), *w = malloc(nw * 2);
        float *dx = malloc(nx * 4), *dw = malloc(nw * 4);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint16_t)(0x3f80 + (i * 7919) % 127);
        for (size_t i = 0; i < ny; i++)
            dy[i] = (uint16_t)(0x3f80 + (i * 104729) % 127);
        for (size_t i = 0; i < nw; i++)
            w[i] = (uint16_t)(0x3c00 + (i * 31) % 127);
        printf("%4dx%3dx%3d k%d/%d ->%4d x%d", sh->C, H, W, sh->k, sh->stride, sh->K, sh->count);
        for (int r = 0; r < NROUTES; r++) {
            const dnnl_format_tag_t act = r == 2 ? dnnl_nhwc : dnnl_nchw, any = dnnl_format_tag_any;
            dnnl_memory_desc_t x_p, y_p, dy_p, dx_p, w_p, dw_p, x_a, y_a, dy_a, dx_a, w_a, dw_a;
            md4(&x_p, N, sh->C, H, W, dnnl_bf16, act), md4(&y_p, N, sh->K, P, Q, dnnl_bf16, act);
            md4(&dy_p, N, sh->K, P, Q, dnnl_bf16, act), md4(&dx_p, N, sh->C, H, W, dnnl_f32, act);
            md4(&w_p, sh->K, sh->C, sh->k, sh->k, dnnl_bf16, dnnl_oihw);
            md4(&dw_p, sh->K, sh->C, sh->k, sh->k, dnnl_f32, dnnl_oihw);
            md4(&w_a, sh->K, sh->C, sh->k, sh->k, dnnl_bf16, any);
            md4(&dw_a, sh->K, sh->C, sh->k, sh->k, dnnl_f32, any);
            if (r == 0) {
                md4(&x_a, N, sh->C, H, W, dnnl_bf16, any), md4(&y_a, N, sh->K, P, Q, dnnl_bf16, any);
                md4(&dy_a, N, sh->K, P, Q, dnnl_bf16, any), md4(&dx_a, N, sh->C, H, W, dnnl_f32, any);
            } else {
                x_a = x_p, y_a = y_p, dy_a = dy_p, dx_a = dx_p;
            }
            dnnl_dims_t st = {sh->stride, sh->stride}, pl = {sh->pad, sh->pad},
                        pr = {(P - 1) * sh->stride + sh->k - H - sh->pad,
                              (Q - 1) * sh->stride + sh->k - W - sh->pad};
            dnnl_convolution_desc_t fd, bdd, bwd;
            dnnl_primitive_desc_t fpd, dpd, wpd;
            CK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &x_a,
                                                  &w_a, NULL, &y_a, st, pl, pr));
            CK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
            CK(dnnl_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, &dx_a, &w_a, &dy_a, st,
                                                        pl, pr));
            CK(dnnl_primitive_desc_create(&dpd, &bdd, NULL, eng, fpd));
            CK(dnnl_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, &x_a, &dw_a, NULL,
                                                           &dy_a, st, pl, pr));
            CK(dnnl_primitive_desc_create(&wpd, &bwd, NULL, eng, fpd));
            dnnl_primitive_t pf, pd, pw;
            CK(dnnl_primitive_create(&pf, fpd));
            CK(dnnl_primitive_create(&pd, dpd));
            CK(dnnl_primitive_create(&pw, wpd));
            Arg af[3], ad[3], aw[3];
            arg_init(&af[0], fpd, dnnl_query_src_md, &x_p, x, false);
            arg_init(&af[1], fpd, dnnl_query_weights_md, &w_p, w, false);
            arg_init(&af[2], fpd, dnnl_query_dst_md, &y_p, y, true);
            arg_init(&ad[0], dpd, dnnl_query_diff_dst_md, &dy_p, dy, false);
            arg_init(&ad[1], dpd, dnnl_query_weights_md, &w_p, w, false);
            arg_init(&ad[2], dpd, dnnl_query_diff_src_md, &dx_p, dx, true);
            arg_init(&aw[0], wpd, dnnl_query_src_md, &x_p, x, false);
            arg_init(&aw[1], wpd, dnnl_query_diff_dst_md, &dy_p, dy, false);
            arg_init(&aw[2], wpd, dnnl_query_diff_weights_md, &dw_p, dw, true);
            const int kf[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
                      kd[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
                      kw[3] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS};
            double best[3] = {INFINITY, INFINITY, INFINITY};
            for (int it = 0; it <= reps; it++) { // iteration 0 warms up
                double t[3] = {run3(pf, kf, af), run3(pd, kd, ad), run3(pw, kw, aw)};
                for (int o = 0; o < 3 && it; o++)
                    if (t[o] < best[o]) best[o] = t[o];
            }
            for (int o = 0; o < 3; o++)
                tot[r][o] += sh->count * best[o];
            printf(" | %s %6.1f %6.1f %6.1f", ROUTES[r], 1e3 * best[0], 1e3 * best[1], 1e3 * best[2]);
            if (s == 1 || s == 2) // the implementations on two typical shapes (1x1, 3x3)
                fprintf(stderr, "  [%s %dx%d: fwd %s, bwd-data %s, bwd-w %s]\n", ROUTES[r], sh->k, sh->k,
                        impl_of(fpd), impl_of(dpd), impl_of(wpd));
            for (int i = 0; i < 3; i++)
                arg_free(&af[i]), arg_free(&ad[i]), arg_free(&aw[i]);
            dnnl_primitive_destroy(pf), dnnl_primitive_destroy(pd), dnnl_primitive_destroy(pw);
            dnnl_primitive_desc_destroy(fpd), dnnl_primitive_desc_destroy(dpd),
                dnnl_primitive_desc_destroy(wpd);
        }
        printf("\n");
        free(x), free(y), free(dy), free(w), free(dx), free(dw);
    }
    printf("TOTAL per pass (weighted), ms fwd / bwd-data / bwd-weights (sum):\n");
    for (int r = 0; r < NROUTES; r++)
        printf("  %-9s %7.0f %7.0f %7.0f  (%7.0f)\n", ROUTES[r], 1e3 * tot[r][0], 1e3 * tot[r][1],
               1e3 * tot[r][2], 1e3 * (tot[r][0] + tot[r][1] + tot[r][2]));
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return 0;
}
#else
int main(void) {
    printf("bench_conv_layout: built without oneDNN\n");
    return 0;
}
#endif
