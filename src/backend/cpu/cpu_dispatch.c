// cpu_dispatch.c — the CPU table's ops on views (backend.h, "tensor views"): each checks its views and
// runs the typed kernel of their form, fp32 NCHW (cpu_conv.c, cpu_norm.c, cpu_pool.c, cpu_se.c,
// cpu_eltwise.c, cpu_gemm.c) or the bf16 chain in NHWC (cpu_bf16.c, cpu_bf16_act.c). This file is the
// only place the CPU table looks at dtype and layout (ggml's compute_forward_* switches on the type).
#include "cpu_ops.h"

#include "core/check.h"

#include <limits.h>
#include <string.h>

// The two forms of backend.h's "Precision bf16" paragraph, on the CPU.
typedef enum { FORM_F32 = 0, FORM_CHAIN } Form;

static AptLayout layout_of(Form f) {
    return f == FORM_CHAIN ? APT_NHWC : APT_NCHW;
}
// An activation view of form f (bf16 in the chain), and a gradient view (fp32, in the form's layout).
static void want_act(const char *op, const char *arg, Form f, AptTensor t) {
    apt_tensor_expect(op, arg, t, f == FORM_CHAIN ? APT_BF16 : APT_F32, layout_of(f));
}
static void want_grad(const char *op, const char *arg, Form f, AptTensor t) {
    apt_tensor_expect(op, arg, t, APT_F32, layout_of(f));
}
// The form an activation view selects (fatal for a form the CPU does not implement).
static Form form_of_act(const char *op, const char *arg, AptTensor x) {
    const Form f = x.dtype == APT_BF16 ? FORM_CHAIN : FORM_F32;
    want_act(op, arg, f, x);
    return f;
}
// The form a gradient view selects: its layout (fp32 NCHW: fp32; fp32 NHWC: the chain's gradients).
static Form form_of_grad(const char *op, const char *arg, AptTensor g) {
    const Form f = g.layout == APT_NHWC ? FORM_CHAIN : FORM_F32;
    want_grad(op, arg, f, g);
    return f;
}
#define F32(t) ((float *)(t).p)
#define BF(t) ((uint16_t *)(t).p)

void apt_cpu_gemm(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, AptTensor A, int lda,
                  AptTensor B, int ldb, float beta, float *C, int ldc) {
    if (A.dtype == APT_BF16) {
        apt_tensor_expect("gemm", "B", B, APT_BF16, B.layout);
        apt_cpu_gemm_bf16(be, ta, tb, M, N, K, alpha, BF(A), lda, BF(B), ldb, beta, C, ldc);
        return;
    }
    apt_tensor_expect("gemm", "B", B, APT_F32, B.layout);
    apt_cpu_gemm_f32(be, ta, tb, M, N, K, alpha, F32(A), lda, F32(B), ldb, beta, C, ldc);
}

// ---- convolution: the form is the descriptor's, fixed at set-up ----
static Form conv_form(const AptConvDesc *d) {
    if (d->dtype == APT_BF16) {
        APT_CHECK(d->layout == APT_NHWC, "conv2d: the cpu runs bf16 convolutions in NHWC, not %s",
                  apt_layout_name(d->layout));
        return FORM_CHAIN;
    }
    APT_CHECK(d->layout == APT_NCHW, "conv2d: the cpu runs fp32 convolutions in NCHW, not %s",
              apt_layout_name(d->layout));
    return FORM_F32;
}

void apt_cpu_conv2d_prepare(AptBackend *be, AptConvDesc *d) {
    const Form f = conv_form(d);
    apt_cpu_conv2d_prepare_f32(be, d); // the plan the bf16 primitives hang on
    if (f == FORM_CHAIN) apt_cpu_conv_bf16_prepare(be, d);
}

void apt_cpu_conv2d_forward(AptBackend *be, const AptConvDesc *d, int n, AptTensor x, AptTensor w,
                            const float *bias, AptTensor y) {
    const Form f = conv_form(d);
    want_act("conv2d_forward", "x", f, x);
    want_act("conv2d_forward", "y", f, y);
    if (f == FORM_CHAIN) {
        apt_tensor_expect("conv2d_forward", "w", w, APT_BF16, APT_NCHW);
        APT_CHECK(!bias, "conv2d_forward: a bf16 convolution has no bias");
        apt_cpu_conv2d_forward_bf16(be, d, n, BF(x), BF(w), BF(y));
        return;
    }
    apt_tensor_expect("conv2d_forward", "w", w, APT_F32, APT_NCHW);
    apt_cpu_conv2d_forward_f32(be, d, n, F32(x), F32(w), bias, F32(y));
}

void apt_cpu_conv2d_backward_data(AptBackend *be, const AptConvDesc *d, int n, AptTensor dy, AptTensor w,
                                  AptTensor dx) {
    const Form f = conv_form(d);
    want_grad("conv2d_backward_data", "dx", f, dx);
    if (f == FORM_CHAIN) {
        apt_tensor_expect("conv2d_backward_data", "dy", dy, APT_BF16, APT_NHWC);
        apt_tensor_expect("conv2d_backward_data", "w", w, APT_BF16, APT_NCHW);
        apt_cpu_conv2d_backward_data_bf16(be, d, n, BF(dy), BF(w), F32(dx));
        return;
    }
    want_grad("conv2d_backward_data", "dy", f, dy);
    apt_tensor_expect("conv2d_backward_data", "w", w, APT_F32, APT_NCHW);
    apt_cpu_conv2d_backward_data_f32(be, d, n, F32(dy), F32(w), F32(dx));
}

void apt_cpu_conv2d_backward_weights(AptBackend *be, const AptConvDesc *d, int n, AptTensor x, AptTensor dy,
                                     float *dw, float *db) {
    const Form f = conv_form(d);
    want_act("conv2d_backward_weights", "x", f, x);
    if (f == FORM_CHAIN) {
        apt_tensor_expect("conv2d_backward_weights", "dy", dy, APT_BF16, APT_NHWC);
        APT_CHECK(!db, "conv2d_backward_weights: a bf16 convolution has no bias");
        apt_cpu_conv2d_backward_weights_bf16(be, d, n, BF(x), BF(dy), dw);
        return;
    }
    want_grad("conv2d_backward_weights", "dy", f, dy);
    apt_cpu_conv2d_backward_weights_f32(be, d, n, F32(x), F32(dy), dw, db);
}

// ---- batch normalisation ----
void apt_cpu_bn_forward(AptBackend *be, int N, int C, int HW, AptTensor x, const float *mean,
                        const float *var, float eps, const float *gamma, const float *beta, AptTensor y) {
    const Form f = form_of_act("bn_forward", "x", x);
    want_act("bn_forward", "y", f, y);
    if (f == FORM_CHAIN)
        apt_cpu_bn_forward_bf16(be, N, C, HW, BF(x), mean, var, eps, gamma, beta, BF(y));
    else
        apt_cpu_bn_forward_f32(be, N, C, HW, F32(x), mean, var, eps, gamma, beta, F32(y));
}

void apt_cpu_bn_backward_affine(AptBackend *be, int N, int C, int HW, AptTensor x, AptTensor dy,
                                const float *mean, const float *var, float eps, const float *gamma,
                                AptTensor dx, float *dgamma, float *dbeta) {
    const Form f = form_of_act("bn_backward_affine", "x", x);
    want_grad("bn_backward_affine", "dy", f, dy);
    want_grad("bn_backward_affine", "dx", f, dx);
    if (f == FORM_CHAIN)
        apt_cpu_bn_backward_affine_bf16(be, N, C, HW, BF(x), F32(dy), mean, var, eps, gamma, F32(dx), dgamma,
                                        dbeta);
    else
        apt_cpu_bn_backward_affine_f32(be, N, C, HW, F32(x), F32(dy), mean, var, eps, gamma, F32(dx), dgamma,
                                       dbeta);
}

void apt_cpu_bn_stats(AptBackend *be, int N, int C, int HW, AptTensor x, double *sums) {
    if (form_of_act("bn_stats", "x", x) == FORM_CHAIN)
        apt_cpu_bn_stats_bf16(be, N, C, HW, BF(x), sums);
    else
        apt_cpu_bn_stats_f32(be, N, C, HW, F32(x), sums);
}

void apt_cpu_bn_backward_stats(AptBackend *be, int N, int C, int HW, AptTensor x, AptTensor dy,
                               const float *mean, const float *var, float eps, double *sums) {
    const Form f = form_of_act("bn_backward_stats", "x", x);
    want_grad("bn_backward_stats", "dy", f, dy);
    if (f == FORM_CHAIN)
        apt_cpu_bn_backward_stats_bf16(be, N, C, HW, BF(x), F32(dy), mean, var, eps, sums);
    else
        apt_cpu_bn_backward_stats_f32(be, N, C, HW, F32(x), F32(dy), mean, var, eps, sums);
}

void apt_cpu_bn_backward_data(AptBackend *be, int N, int C, int HW, AptTensor x, AptTensor dy,
                              const float *mean, const float *var, float eps, const float *gamma,
                              const double *sums, double count, AptTensor dx) {
    const Form f = form_of_act("bn_backward_data", "x", x);
    want_grad("bn_backward_data", "dy", f, dy);
    want_grad("bn_backward_data", "dx", f, dx);
    if (f == FORM_CHAIN)
        apt_cpu_bn_backward_data_bf16(be, N, C, HW, BF(x), F32(dy), mean, var, eps, gamma, sums, count,
                                      F32(dx));
    else
        apt_cpu_bn_backward_data_f32(be, N, C, HW, F32(x), F32(dy), mean, var, eps, gamma, sums, count,
                                     F32(dx));
}

// ---- elementwise: any layout, the operands in one ----
void apt_cpu_relu_forward(AptBackend *be, size_t n, AptTensor x, AptTensor y) {
    apt_tensor_expect("relu_forward", "y", y, x.dtype, x.layout);
    if (x.dtype == APT_BF16)
        apt_cpu_relu_forward_bf16(be, n, BF(x), BF(y));
    else
        apt_cpu_relu_forward_f32(be, n, F32(x), F32(y));
}

void apt_cpu_relu_backward(AptBackend *be, size_t n, AptTensor y, AptTensor dy, AptTensor dx) {
    apt_tensor_expect("relu_backward", "dy", dy, APT_F32, y.layout);
    apt_tensor_expect("relu_backward", "dx", dx, APT_F32, y.layout);
    if (y.dtype == APT_BF16)
        apt_cpu_relu_backward_bf16(be, n, BF(y), F32(dy), F32(dx));
    else
        apt_cpu_relu_backward_f32(be, n, F32(y), F32(dy), F32(dx));
}

void apt_cpu_add(AptBackend *be, size_t n, AptTensor a, AptTensor b, AptTensor y) {
    apt_tensor_expect("add", "b", b, a.dtype, a.layout);
    apt_tensor_expect("add", "y", y, a.dtype, a.layout);
    if (a.dtype == APT_BF16)
        apt_cpu_add_bf16(be, n, BF(a), BF(b), BF(y));
    else
        apt_cpu_add_f32(be, n, F32(a), F32(b), F32(y));
}

// ---- pooling and channel scale ----
void apt_cpu_maxpool_forward(AptBackend *be, const AptPoolDesc *d, int n, AptTensor x, AptTensor y,
                             int *idx) {
    const Form f = form_of_act("maxpool_forward", "x", x);
    want_act("maxpool_forward", "y", f, y);
    if (f == FORM_CHAIN)
        apt_cpu_maxpool_forward_bf16(be, d, n, BF(x), BF(y), idx);
    else
        apt_cpu_maxpool_forward_f32(be, d, n, F32(x), F32(y), idx);
}

void apt_cpu_maxpool_backward(AptBackend *be, const AptPoolDesc *d, int n, AptTensor dy, const int *idx,
                              AptTensor dx) {
    const Form f = form_of_grad("maxpool_backward", "dy", dy);
    want_grad("maxpool_backward", "dx", f, dx);
    if (f == FORM_CHAIN)
        apt_cpu_maxpool_backward_bf16(be, d, n, F32(dy), idx, F32(dx));
    else
        apt_cpu_maxpool_backward_f32(be, d, n, F32(dy), idx, F32(dx));
}

void apt_cpu_gap_forward(AptBackend *be, int N, int C, int HW, AptTensor x, float *y) {
    if (form_of_act("gap_forward", "x", x) == FORM_CHAIN)
        apt_cpu_gap_forward_bf16(be, N, C, HW, BF(x), y);
    else
        apt_cpu_gap_forward_f32(be, N, C, HW, F32(x), y);
}

void apt_cpu_gap_backward(AptBackend *be, int N, int C, int HW, const float *dy, AptTensor dx) {
    if (form_of_grad("gap_backward", "dx", dx) == FORM_CHAIN)
        apt_cpu_gap_backward_bf16(be, N, C, HW, dy, F32(dx));
    else
        apt_cpu_gap_backward_f32(be, N, C, HW, dy, F32(dx));
}

void apt_cpu_chscale_forward(AptBackend *be, int N, int C, int HW, AptTensor x, const float *s, AptTensor y) {
    const Form f = form_of_act("chscale_forward", "x", x);
    want_act("chscale_forward", "y", f, y);
    if (f == FORM_CHAIN)
        apt_cpu_chscale_forward_bf16(be, N, C, HW, BF(x), s, BF(y));
    else
        apt_cpu_chscale_forward_f32(be, N, C, HW, F32(x), s, F32(y));
}

void apt_cpu_chscale_backward(AptBackend *be, int N, int C, int HW, AptTensor x, const float *s, AptTensor dy,
                              AptTensor dx, float *ds) {
    const Form f = form_of_act("chscale_backward", "x", x);
    want_grad("chscale_backward", "dy", f, dy);
    want_grad("chscale_backward", "dx", f, dx);
    if (f == FORM_CHAIN)
        apt_cpu_chscale_backward_bf16(be, N, C, HW, BF(x), s, F32(dy), F32(dx), ds);
    else
        apt_cpu_chscale_backward_f32(be, N, C, HW, F32(x), s, F32(dy), F32(dx), ds);
}

// ---- cast: dtype and layout ----
static inline float load(AptTensor t, size_t i) {
    return t.dtype == APT_BF16 ? apt_bf16_load(BF(t)[i]) : F32(t)[i];
}
static inline void store(AptTensor t, size_t i, float v) {
    if (t.dtype == APT_BF16)
        BF(t)[i] = apt_bf16_round(v);
    else
        F32(t)[i] = v;
}

void apt_cpu_cast(AptBackend *be, int N, int C, size_t HW, AptTensor x, AptTensor y) {
    const size_t n = (size_t)N * (size_t)C * HW;
    APT_CHECK((x.dtype == APT_F32 || x.dtype == APT_BF16) && (y.dtype == APT_F32 || y.dtype == APT_BF16),
              "cast: %s -> %s is not a cast of the op table", apt_dtype_name(x.dtype),
              apt_dtype_name(y.dtype));
    if (!n) return;
    if (x.layout == y.layout || C == 1 || HW == 1) { // no permutation: an elementwise conversion
        if (x.dtype == y.dtype)
            memmove(y.p, x.p, n * apt_dtype_size(x.dtype));
        else if (x.dtype == APT_F32)
            apt_cpu_cast_f32_bf16(be, n, F32(x), BF(y));
        else
            apt_cpu_cast_bf16_f32(be, n, BF(x), F32(y));
        return;
    }
    APT_CHECK(HW <= INT_MAX, "cast: a plane of %zu elements", HW);
    const int hw = (int)HW;
    if (x.layout == APT_NCHW && x.dtype == APT_F32 && y.dtype == APT_BF16) {
        apt_cpu_act_from_f32_bf16(be, N, C, hw, F32(x), BF(y));
    } else if (x.layout == APT_NHWC && x.dtype == APT_BF16 && y.dtype == APT_F32) {
        apt_cpu_act_to_f32(be, N, C, hw, BF(x), F32(y));
    } else if (x.layout == APT_NCHW && x.dtype == APT_F32 && y.dtype == APT_F32) {
        apt_cpu_act_from_nchw_f32(be, N, C, hw, F32(x), F32(y));
    } else { // the other permutations: rare (tests, fp32 layers reading NHWC data), one element at a time
        const bool to_nhwc = y.layout == APT_NHWC;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long r = 0; r < (long)N * hw; r++) {
            const long s = r / hw, p = r - s * hw;
            for (int c = 0; c < C; c++) {
                const size_t nchw = ((size_t)s * C + c) * HW + (size_t)p, nhwc = (size_t)r * C + c;
                store(y, to_nhwc ? nhwc : nchw, load(x, to_nhwc ? nchw : nhwc));
            }
        }
    }
}
