// backend.h — the op table (DESIGN §2): every numeric kernel the layers call, behind one struct of
// function pointers chosen at run time. The CPU table (src/backend/cpu/) is always built and is the
// reference; the CUDA table (src/backend/cuda/) has the same signatures.
//
// Conventions, for every op:
//   - tensors live in the backend's memory (host for "cpu", device for "cuda"); a `float *` argument is
//     fp32 (NCHW for images), an AptTensor argument is a view that carries its dtype and layout (below);
//     sizes are passed explicitly (n may be smaller than the size a descriptor was prepared for);
//   - forward ops overwrite their output; backward ops OVERWRITE the input gradient dx and ACCUMULATE (+=)
//     into parameter gradients (dw, db, dgamma, dbeta), so a model's backward sums into the flat store;
//   - dx == NULL skips the input gradient (first layer of a network);
//   - per-channel statistics that must be all-reduced (sync BatchNorm) are float64 partial sums, so the
//     layer reduces them through dist/comm.h and the result is exact across world sizes;
//   - results are bitwise repeatable for a given thread count (fixed reduction order, no atomics); our
//     own CPU kernels give the same bits for any thread count, GEMM/oneDNN kernels may round differently
//     with another thread count;
//   - convolution backward may reuse internal layout conversions: of x from the last conv2d_forward on
//     the same descriptor (same x pointer and n), and of dy between the two backward calls of one step
//     (same dy pointer). Callers must not modify x between forward and backward, nor dy between the two
//     backward calls (the nn layers never do: every buffer is written only by its producer).
#pragma once
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { APT_COPY_H2H = 0, APT_COPY_H2D, APT_COPY_D2H, APT_COPY_D2D } AptCopyDir;

// ---- tensor views: what an op's activation arguments are (ggml's tensor type, without the graph) ----
// A view names storage in the backend's memory with its element type and layout. Its sizes stay the
// op's arguments: a call may cover fewer rows than the buffer was sized for at set-up (n <= N), and the
// descriptors of convolutions and pooling hold the rest. Each backend switches on dtype and layout inside
// the op (cpu/cpu_dispatch.c; cuda: one launcher per kernel family, templated on the storage type), so a
// new dtype or layout is a case inside the backends, not a new op. A combination a backend does not
// implement is a fatal error naming the op and the argument (apt_tensor_expect).
//   APT_F32:  float32;
//   APT_BF16: bfloat16 (uint16_t, the upper half of an fp32; rounded to nearest even, NaN stays NaN).
// Layouts apply to image tensors [N, C, HW]: NCHW (x[(n * C + c) * HW + p]) or NHWC (x[(n * HW + p) * C
// + c]); other tensors are row-major and say APT_NCHW.
typedef enum { APT_NCHW = 0, APT_NHWC = 1 } AptLayout;
typedef struct AptTensor {
    void *p;        // NULL: the argument is absent (an optional output such as dx)
    AptDType dtype; // core/tensor.h; the ops take APT_F32 and APT_BF16
    AptLayout layout;
} AptTensor;
static inline AptTensor apt_tensor(const void *p, AptDType dtype, AptLayout layout) {
    AptTensor t = {(void *)(uintptr_t)p, dtype, layout};
    return t;
}
static inline AptTensor apt_f32(const float *p) { // fp32, NCHW / row-major
    return apt_tensor(p, APT_F32, APT_NCHW);
}
static inline const char *apt_layout_name(AptLayout l) {
    return l == APT_NHWC ? "NHWC" : "NCHW";
}
// An op's check of one view (absent views pass): fatal, naming op, argument and both forms, unless t has
// dtype and layout.
void apt_tensor_expect(const char *op, const char *arg, AptTensor t, AptDType dtype, AptLayout layout);

// 2-D convolution, dilation 1, groups 1. x: [N, C, H, W]; w: [K, C, R, S]; bias: [K]; y: [N, K, P, Q].
// dtype and layout are those of x and y, fixed at set-up (conv2d_prepare builds the plan for them):
// APT_F32 (layout NCHW) or the bf16 chain (APT_BF16 in the backend's act_layout: w bf16 [K, C, R, S], no
// bias, fp32 accumulation; dx and dw fp32, dx in the same layout).
typedef struct {
    int N, C, H, W; // N: the largest batch the op will see (set-up size)
    AptDType dtype; // apt_conv_desc_init: APT_F32 / APT_NCHW
    AptLayout layout;
    int K, R, S;    // output channels, kernel height, width
    int stride_h, stride_w;
    int pad_h, pad_w;
    int P, Q;   // output height, width (apt_conv_desc_init fills them)
    void *plan; // backend-private (primitives, workspace sizes); set by conv2d_prepare
} AptConvDesc;

// Fill P, Q from the others; dtype fp32, layout NCHW, plan = NULL.
void apt_conv_desc_init(AptConvDesc *d, int N, int C, int H, int W, int K, int R, int S, int stride, int pad);

// Max/avg pooling window. Avg pooling counts the padding (PyTorch's count_include_pad=True).
typedef struct {
    int N, C, H, W;
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
    int P, Q;
} AptPoolDesc;
void apt_pool_desc_init(AptPoolDesc *d, int N, int C, int H, int W, int k, int stride, int pad);

typedef struct AptBackend AptBackend;
struct AptLossParams; // backend/loss_types.h: which ranking loss and its hyper-parameters

// Scalars a step reads back (one device-to-host copy per step): slots of a small float64 block in the
// backend's memory that ops write into.
enum { APT_SCALAR_LOSS = 0, APT_SCALAR_SUMSQ, APT_SCALAR_FINITE, APT_SCALAR_COUNT };

// ---- one optimizer pass over the flat parameter store (grad_sumsq, optim_update; llm.c's gpt2_update) ----
// A segment is one trainable tensor of the store: a range of the flat w/g/m/v buffers with its own learning
// rate and weight decay (the parameter groups: head multiplier, layer-wise decay, no-decay set). The table
// of segments, in registration order, lives in the backend's memory: src/optim/ builds it once at set-up
// (a reordering of the store is never needed), and ops read it there, so a step makes no host round trip.
#define APT_SEG_PARTS 64 // per-segment partial sums a backend may keep (cuda: the 64 chunks of sumsq)
typedef struct AptSegment {
    size_t offset, numel; // elements into w, g, m, v
    // This segment's learning rate for base rate lr is (float)((lr * lr_mul) * lr_scale), in float64 and
    // rounded once, exactly as the per-tensor optimizer computed it (src/optim/optim.h apt_optim_param_lr).
    double lr_mul;   // the head's multiplier (optim.fc_lr_mul) or 1
    double lr_scale; // layer-wise decay (AptParam.lr_scale, widened)
    float wd;        // weight decay (0: the no-decay set)
    double part[APT_SEG_PARTS]; // backend scratch (cpu: part[0] = this segment's sum of squares)
} AptSegment;

typedef enum { APT_UPDATE_SGD = 0, APT_UPDATE_ADAM, APT_UPDATE_ADAMW } AptUpdateKind;

// What optim_update applies, for one step (host memory; only seg points into backend memory).
typedef struct {
    AptUpdateKind kind;
    AptSegment *seg; // [n_seg] backend memory, the trainable tensors in registration order
    int n_seg;
    size_t max_numel;   // the largest segment's numel (launch sizing)
    size_t numel_total; // elements over all segments (work estimates)
    double lr;       // the step's base learning rate (schedule)
    double max_norm; // torch clip_grad_norm_: coef = max_norm / (norm + 1e-6) when norm > max_norm; <= 0: off
    float mu;        // sgd momentum (0: no buffer)
    bool nesterov;
    float b1, b2, eps; // adam / adamw
    long t;            // adam / adamw: the step count after this update (>= 1), for the bias correction
} AptOptimPass;

// The clip coefficient from the gradient sum of squares (torch.nn.utils.clip_grad_norm_): 1 = no clipping.
// Shared by the host (src/optim/clip.c) and the cpu kernel; cuda computes the same in its kernel.
static inline float apt_clip_coef_from_sumsq(double sumsq, double max_norm) {
    const double norm = sqrt(sumsq);
    if (max_norm <= 0 || !(norm > max_norm)) return 1.0f;
    return (float)(max_norm / (norm + 1e-6));
}

// Precision bf16 (the conv families, src/nn/conv2d.c) is a choice of views, not of ops: the tensors a
// backward keeps (convolution and BatchNorm outputs, pooled and residual outputs, the input) are APT_BF16
// views in the backend's ACTIVATION LAYOUT (AptBackend.act_layout: NHWC on the CPU, where oneDNN's bf16
// convolutions run fastest without reorders; NCHW on CUDA), and so are the fp32 gradients flowing
// alongside them (APT_F32 views in that layout). An op given bf16 views is its fp32 form applied to the
// exactly widened bf16 inputs, with the same fp32 arithmetic (and float64 statistics), its bf16 outputs
// rounded once at the end; parameters, their gradients, BatchNorm statistics and every [N, C] / [N, D]
// tensor stay fp32. Convolutions multiply bf16 inputs with fp32 accumulation and round y to bf16 (CUDA
// also rounds dx and the dw increment to bf16 before widening them: cuDNN has no bf16-in / fp32-out
// convolution). The two forms each backend implements for the ops on views:
//   fp32:  every view APT_F32 / APT_NCHW;
//   chain: activations (x, y, a, b) APT_BF16, gradients (dy, dx) APT_F32, all in act_layout.
// tests/backend/test_backend_ops.c, the op test generated from this list, checks every op in each form a
// backend supports (the chain against fp32 and float64 references; CUDA also against the CPU).
// The numeric ops, as one X-macro list: X(name, (parameters), (arguments)). Every op returns void and
// takes the backend first. The struct below, the CPU and CUDA tables and the guard backend's wrappers
// (src/backend/guard/) are generated from this list, so an op added here is wrapped everywhere.
#define APT_BACKEND_OPS(X)                                                                                   \
    /* ---- GEMM, row-major: C[M,N] = alpha * op(A)[M,K] . op(B)[K,N] + beta * C ---- */                     \
    /* A and B both fp32 or both bf16 (fp32 accumulation); C fp32. */                                        \
    X(gemm,                                                                                                  \
      (AptBackend * be, bool trans_a, bool trans_b, int M, int N, int K, float alpha, AptTensor A, int lda,  \
       AptTensor B, int ldb, float beta, float *C, int ldc),                                                 \
      (be, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))                                  \
    /* ---- convolution (AptConvDesc: the forms it runs in) ---- */                                          \
    /* Called once per layer at set-up: builds whatever the backend needs for this shape and d->dtype, */    \
    /* d->layout (d->plan). */                                                                               \
    X(conv2d_prepare, (AptBackend * be, AptConvDesc * d), (be, d))                                           \
    X(conv2d_release, (AptBackend * be, AptConvDesc * d), (be, d))                                           \
    /* y = conv(x, w) (+ bias if bias != NULL, fp32 only). n <= d->N. */                                     \
    X(conv2d_forward,                                                                                        \
      (AptBackend * be, const AptConvDesc *d, int n, AptTensor x, AptTensor w, const float *bias,            \
       AptTensor y),                                                                                         \
      (be, d, n, x, w, bias, y))                                                                             \
    /* dx = conv_transpose(dy, w); dx fp32 (in d->layout). */                                                \
    X(conv2d_backward_data,                                                                                  \
      (AptBackend * be, const AptConvDesc *d, int n, AptTensor dy, AptTensor w, AptTensor dx),               \
      (be, d, n, dy, w, dx))                                                                                 \
    /* dw += corr(x, dy); db += sum over n, p, q of dy (skipped when db == NULL; fp32 only). */              \
    X(conv2d_backward_weights,                                                                               \
      (AptBackend * be, const AptConvDesc *d, int n, AptTensor x, AptTensor dy, float *dw, float *db),       \
      (be, d, n, x, dy, dw, db))                                                                             \
    /* ---- batch normalisation, x/y: [N, C, HW]; per-channel vectors [C] fp32 ---- */                       \
    /* y = gamma * (x - mean) / sqrt(var + eps) + beta (inference, frozen, and train after the stats) */     \
    X(bn_forward,                                                                                            \
      (AptBackend * be, int N, int C, int HW, AptTensor x, const float *mean, const float *var, float eps,   \
       const float *gamma, const float *beta, AptTensor y),                                                  \
      (be, N, C, HW, x, mean, var, eps, gamma, beta, y))                                                     \
    /* Statistics held constant (frozen / eval): dx = dy * gamma / sqrt(var + eps) (dx may be absent); */    \
    /* dgamma += sum dy * xhat; dbeta += sum dy (either may be NULL). */                                     \
    X(bn_backward_affine,                                                                                    \
      (AptBackend * be, int N, int C, int HW, AptTensor x, AptTensor dy, const float *mean,                  \
       const float *var, float eps, const float *gamma, AptTensor dx, float *dgamma, float *dbeta),          \
      (be, N, C, HW, x, dy, mean, var, eps, gamma, dx, dgamma, dbeta))                                       \
    /* Train forward, step 1: partial sums over this process's samples. sums: [2C] = {Sx [C], Sx^2 [C]}. */  \
    X(bn_stats, (AptBackend * be, int N, int C, int HW, AptTensor x, double *sums), (be, N, C, HW, x, sums)) \
    /* Train forward, step 2 (after an optional all-reduce of sums): mean and biased var over `count` */     \
    /* values per channel; running stats (if not NULL) move by `momentum` towards mean and unbiased var. */  \
    X(bn_finalize,                                                                                           \
      (AptBackend * be, int C, const double *sums, double count, float momentum, float *mean, float *var,    \
       float *running_mean, float *running_var),                                                             \
      (be, C, sums, count, momentum, mean, var, running_mean, running_var))                                  \
    /* Train backward, step 1: partial sums {Sdy [C], Sdy.xhat [C]} into sums [2C]. */                       \
    X(bn_backward_stats,                                                                                     \
      (AptBackend * be, int N, int C, int HW, AptTensor x, AptTensor dy, const float *mean,                  \
       const float *var, float eps, double *sums),                                                           \
      (be, N, C, HW, x, dy, mean, var, eps, sums))                                                           \
    /* Train backward, step 2 (sums all-reduced over the batch the statistics came from, `count` values */   \
    /* per channel): dx = gamma/sqrt(var+eps) * (dy - Sdy/count - xhat * Sdy.xhat/count). */                 \
    X(bn_backward_data,                                                                                      \
      (AptBackend * be, int N, int C, int HW, AptTensor x, AptTensor dy, const float *mean,                  \
       const float *var, float eps, const float *gamma, const double *sums, double count, AptTensor dx),     \
      (be, N, C, HW, x, dy, mean, var, eps, gamma, sums, count, dx))                                         \
    /* ---- activations and pooling ---- */                                                                  \
    /* elementwise, any layout (all views in the same one); in place ok; backward from the output y */       \
    X(relu_forward, (AptBackend * be, size_t n, AptTensor x, AptTensor y), (be, n, x, y))                    \
    X(relu_backward, (AptBackend * be, size_t n, AptTensor y, AptTensor dy, AptTensor dx),                   \
      (be, n, y, dy, dx))                                                                                    \
    /* idx: [N, C, P, Q] int32 argmax (offset within the H*W plane; in x's layout), written by forward, */   \
    /* read by backward */                                                                                   \
    X(maxpool_forward, (AptBackend * be, const AptPoolDesc *d, int n, AptTensor x, AptTensor y, int *idx),   \
      (be, d, n, x, y, idx))                                                                                 \
    X(maxpool_backward,                                                                                      \
      (AptBackend * be, const AptPoolDesc *d, int n, AptTensor dy, const int *idx, AptTensor dx),            \
      (be, d, n, dy, idx, dx))                                                                               \
    X(avgpool_forward, (AptBackend * be, const AptPoolDesc *d, int n, const float *x, float *y),             \
      (be, d, n, x, y))                                                                                      \
    X(avgpool_backward, (AptBackend * be, const AptPoolDesc *d, int n, const float *dy, float *dx),          \
      (be, d, n, dy, dx))                                                                                    \
    /* x: [N, C, HW] -> y: [N, C] fp32 (mean over HW); backward dy [N, C] -> dx (fp32, any layout) */        \
    X(gap_forward, (AptBackend * be, int N, int C, int HW, AptTensor x, float *y), (be, N, C, HW, x, y))     \
    X(gap_backward, (AptBackend * be, int N, int C, int HW, const float *dy, AptTensor dx),                  \
      (be, N, C, HW, dy, dx))                                                                                \
    /* ---- linear (torch layout w: [out, in]) via GEMM: y[N,out] = x[N,in] . w^T + b ---- */                \
    X(linear_forward,                                                                                        \
      (AptBackend * be, int N, int in, int out, const float *x, const float *w, const float *b, float *y),   \
      (be, N, in, out, x, w, b, y))                                                                          \
    /* dx = dy . w (dx may be NULL); dw += dy^T . x; db += S_n dy (db may be NULL). */                       \
    X(linear_backward,                                                                                       \
      (AptBackend * be, int N, int in, int out, const float *x, const float *w, const float *dy, float *dx,  \
       float *dw, float *db),                                                                                \
      (be, N, in, out, x, w, dy, dx, dw, db))                                                                \
    /* ---- squeeze-excitation (SE-ResNet): src/backend/cpu/cpu_se.c, src/backend/cuda/cuda_se.cu ---- */    \
    /* y = 1 / (1 + exp(-x)), in place ok; dx = dy * y * (1 - y) from the output, in place ok */             \
    X(sigmoid_forward, (AptBackend * be, size_t n, const float *x, float *y), (be, n, x, y))                 \
    X(sigmoid_backward, (AptBackend * be, size_t n, const float *y, const float *dy, float *dx),             \
      (be, n, y, dy, dx))                                                                                    \
    /* channel scale, x/y: [N, C, HW], s: [N, C] fp32: y[n,c,:] = x[n,c,:] * s[n,c] */                       \
    X(chscale_forward, (AptBackend * be, int N, int C, int HW, AptTensor x, const float *s, AptTensor y),    \
      (be, N, C, HW, x, s, y))                                                                               \
    /* dx = dy * s (dx may be absent); ds[n,c] = S_hw dy * x, OVERWRITTEN (an input gradient; may be NULL)   \
     */                                                                                                      \
    X(chscale_backward,                                                                                      \
      (AptBackend * be, int N, int C, int HW, AptTensor x, const float *s, AptTensor dy, AptTensor dx,       \
       float *ds),                                                                                           \
      (be, N, C, HW, x, s, dy, dx, ds))                                                                      \
    /* ---- L2 normalisation of rows, x/y: [N, D]; y = x / max(||x||, 1e-12) (torch F.normalize) ---- */     \
    X(l2norm_forward, (AptBackend * be, int N, int D, const float *x, float *y), (be, N, D, x, y))           \
    /* dx = (dy - y (y.dy)) / max(||x||, 1e-12) */                                                           \
    X(l2norm_backward,                                                                                       \
      (AptBackend * be, int N, int D, const float *x, const float *y, const float *dy, float *dx),           \
      (be, N, D, x, y, dy, dx))                                                                              \
    /* ---- elementwise ---- */                                                                              \
    /* y = a + b, any layout (all three in the same form; bf16: the sum rounded once); in place ok */        \
    X(add, (AptBackend * be, size_t n, AptTensor a, AptTensor b, AptTensor y), (be, n, a, b, y))             \
    X(axpy, (AptBackend * be, size_t n, float alpha, const float *x, float *y), (be, n, alpha, x, y))        \
    X(scale, (AptBackend * be, size_t n, float alpha, float *x), (be, n, alpha, x)) /* x *= alpha */         \
    X(fill, (AptBackend * be, size_t n, float value, float *x), (be, n, value, x))                           \
    /* float64 fill (scalar blocks: a flag set to 1 before the ops that may clear it) */                     \
    X(fill_f64, (AptBackend * be, size_t n, double value, double *x), (be, n, value, x))                     \
    /* y = x as [N, C, HW] in y's dtype and layout: fp32 -> bf16 rounds to nearest even (NaN stays NaN), */  \
    /* bf16 -> fp32 is exact; NCHW <-> NHWC permutes (a flat array is N = C = 1). x and y do not overlap. */ \
    X(cast, (AptBackend * be, int N, int C, size_t HW, AptTensor x, AptTensor y), (be, N, C, HW, x, y))      \
    /* ---- reductions for the gradient norm and the numeric stop (results stay in backend memory) ---- */   \
    /* *out (accumulate ? += : =) sum of x[i]^2 in float64: 8 lanes over a fixed stride combined in a */     \
    /* fixed tree (CPU), or a fixed chunking summed in index order (CUDA): same bits run to run. */          \
    X(sumsq, (AptBackend * be, size_t n, const float *x, double *out, bool accumulate),                      \
      (be, n, x, out, accumulate))                                                                           \
    /* *flag = 0 if any x[i] is NaN or infinite, else left as it is (set it to 1 first with fill_f64). */    \
    X(finite_check, (AptBackend * be, size_t n, const float *x, double *flag), (be, n, x, flag))             \
    /* ---- optimizer updates on flat ranges (the formulas of src/optim/optim.h) ---- */                     \
    /* torch.optim.SGD (dampening 0): d = g + wd*w; buf = mu*buf + d; w -= lr*(nesterov ? d+mu*buf : buf) */ \
    X(sgd_update,                                                                                            \
      (AptBackend * be, float *w, const float *g, float *buf, size_t n, float lr, float wd, float mu,        \
       bool nesterov),                                                                                       \
      (be, w, g, buf, n, lr, wd, mu, nesterov))                                                              \
    /* torch.optim.Adam (coupled wd) / AdamW (decoupled); t >= 1 is the step count after this update */      \
    X(adam_update,                                                                                           \
      (AptBackend * be, float *w, const float *g, float *m, float *v, size_t n, float lr, float b1,          \
       float b2, float eps, float wd, bool decoupled, long t),                                               \
      (be, w, g, m, v, n, lr, b1, b2, eps, wd, decoupled, t))                                                \
    /* ---- one pass over all trainable tensors (the segment table above; llm.c's gpt2_update) ---- */       \
    /* *out = sum over the segments, in table order, of each segment's sumsq (the first written, the rest */ \
    /* accumulated), bitwise the per-tensor sumsq calls; 0 with no segment. out: backend memory */           \
    X(grad_sumsq, (AptBackend * be, AptSegment * seg, int n_seg, const float *g, double *out),               \
      (be, seg, n_seg, g, out))                                                                              \
    /* The step's update of every segment: reads scal[APT_SCALAR_FINITE] and scal[APT_SCALAR_SUMSQ] from */  \
    /* backend memory; when the flag is 0 or the sum is not finite, touches nothing (the numeric stop); */   \
    /* else clips as clip_grad_norm_ (g *= coef in place, float32, only when coef != 1, as scale would) */   \
    /* and applies sgd_update / adam_update to each segment with its lr and wd: bitwise the per-tensor */    \
    /* calls. m: momentum / first moment; v: second moment (NULL for sgd). */                                \
    X(optim_update,                                                                                          \
      (AptBackend * be, const AptOptimPass *pass, float *w, float *g, float *m, float *v,                    \
       const double *scal),                                                                                  \
      (be, pass, w, g, m, v, scal))                                                                          \
    /* ---- ranking loss (DESIGN §3), forward + backward for the local queries [q_begin, q_end) ---- */     \
    /* *ws: a workspace for b_max local queries, B_max global rows of D_max, classes of at most m_max; */    \
    /* NULL when this backend has no kernel for the loss p names (the caller says so and stops). */          \
    X(loss_create,                                                                                           \
      (AptBackend * be, const struct AptLossParams *p, int b_max, int B_max, int D_max, int m_max,           \
       void **ws),                                                                                           \
      (be, p, b_max, B_max, D_max, m_max, ws))                                                               \
    X(loss_free, (AptBackend * be, void *ws), (be, ws))                                                      \
    /* E [B, D] backend memory; labels [B] HOST memory (the sampler's plan, identical on every rank); */     \
    /* dE [B, D] backend memory, overwritten: d loss_part / d E; *loss_part (backend memory) = this */       \
    /* rank's share of the loss, already divided by the global query count. */                               \
    /* Cross-batch memory: E and labels carry p->memory_rows gallery-only rows after the B batch rows */     \
    /* (B_max of loss_create counts them); dE stays [B, D]: the memory is detached. */                       \
    X(loss_compute,                                                                                          \
      (AptBackend * be, void *ws, const struct AptLossParams *p, const float *E, const int *labels, int B,   \
       int D, int q_begin, int q_end, float *dE, double *loss_part),                                         \
      (be, ws, p, E, labels, B, D, q_begin, q_end, dE, loss_part))                                           \
    /* ---- SiMix (loss.simix, src/loss/simix.h): rows mixed pairwise, and the transpose ---- */             \
    /* y [n, D] (overwritten): y[r] = alpha[r] x[src[2r]] + (1 - alpha[r]) x[src[2r+1]], float32. */         \
    /* src [2n] int, alpha [n]: backend memory. alpha 1 with src[2r] == src[2r+1] copies the row exactly. */ \
    X(mix_rows,                                                                                              \
      (AptBackend * be, int n, int D, const int *src, const float *alpha, const float *x, float *y),         \
      (be, n, D, src, alpha, x, y))                                                                          \
    /* dx [n_x, D] (overwritten): dx[t] = sum over e in [start[t], start[t+1]), in that order, of */         \
    /* c_e dy[ent[e] / 2], c_e = alpha[ent[e] / 2] for even ent[e], 1 - alpha[ent[e] / 2] for odd: */        \
    /* mix_rows transposed, each x row's contributions in a fixed order (no atomics). start [n_x + 1], */    \
    /* ent, alpha: backend memory. */                                                                        \
    X(mix_rows_backward,                                                                                     \
      (AptBackend * be, int n_x, int D, const int *start, const int *ent, const float *alpha,                \
       const float *dy, float *dx),                                                                          \
      (be, n_x, D, start, ent, alpha, dy, dx))

// ---- transformer ops (ViT, src/nn/vit.c), a second X-macro list of the same form (the guard backend
// wraps every op of both lists): CPU in cpu/cpu_transformer.c, CUDA in cuda/cuda_transformer.cu (each
// fills them in its *_transformer_register), tests in tests/backend/test_transformer_ops.c (float64 +
// finite differences; bf16 views against fp32) and test_transformer_ops_cuda.c (CUDA vs CPU). Rows are
// the last dimension; [R, D] row-major.
// Views: the activations (the tensors a backward reads: token rows, attention probabilities, the GEMM
// operands and outputs) are AptTensor views of dtype APT_F32 or APT_BF16, each argument independently;
// gradients (dy, dx) and parameters (gamma, beta, cls, pos, bias, their gradients) and the LayerNorm
// statistics stay fp32 float *. A token tensor [n, T, D] is row-major whatever its view's layout says
// (it is the image [n, D, T] in NHWC, and a flat array in NCHW): these ops do not read the layout. An op
// on bf16 views is its fp32 form on the exactly widened inputs, with the same fp32 arithmetic (float64
// sums where fp32 has them), each bf16 output rounded once (round to nearest even) when stored.
//   gemm_batched: row-major, for i < batch: C_i = alpha op(A_i) op(B_i) + beta C_i (+ bias) with A_i = A +
//     i*sA, B_i = B + i*sB, C_i = C + i*sC (strides in elements). Attention runs heads as the batch with the
//     heads' columns of the fused qkv buffer as strided views. The C_i must not overlap. A, B, C each fp32
//     or bf16 (fp32 accumulation: a bf16 C is rounded once from the fp32 result; a bf16 C read with beta
//     != 0 is widened). bias: NULL, or [N] fp32 added to every row of C_i (then beta must be 0): the
//     token linears (y = x wᵀ + b) are batch-1 calls.
//   layernorm_forward: over rows of x [R, D] (torch.nn.LayerNorm, biased variance):
//     y = (x - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps); mean, rstd: [R] kept for backward.
//   layernorm_backward: g = dy * gamma: dx = rstd * (g - mean_row(g) - xhat * mean_row(g * xhat))
//     (overwritten; may be NULL); dgamma += sum_rows dy * xhat; dbeta += sum_rows dy (either may be NULL).
//   gelu_forward/backward: erf form (torch nn.GELU(), timm's default): y = x/2 (1 + erf(x/sqrt 2));
//     dx = dy (Phi(x) + x phi(x)). In place allowed (same storage and dtype; dx == dy).
//   softmax_forward: over each row of x [R, L] (max-subtracted); in place allowed (same dtype).
//   softmax_backward: dx = y * (dy - sum_row y dy), from the forward's output y; dx == dy allowed.
//   vit_embed_forward: patch [n, D, P] fp32 (the patch conv's NCHW output, P = gh*gw), cls [D], pos
//     [1+P, D] -> y [n, 1+P, D]: y[s,0] = cls + pos[0], y[s,1+p,d] = patch[s,d,p] + pos[1+p,d].
//   vit_embed_backward: dpatch (overwritten; may be NULL) from dy [n, 1+P, D]; dcls += sum_s dy[s,0];
//     dpos += sum_s dy[s].
//   token_pool_forward: x [n, T, D] -> y [n, D] fp32: mean = false: token 0 (class token); true: mean of
//     tokens 1..T-1. token_pool_backward: dx [n, T, D] overwritten (zero where the pool does not read).
//   drop_path: stochastic depth on rows of len elements: y[s] = x[s] * keep_s / (1 - p) with
//     keep_s = (uniform of apt_rng_block(seed, APT_RNG_DROP_PATH, epoch, step, sample0 + s, layer) >= p)
//     (src/core/rng.h): the same draw on every backend, rank and thread. Linear in x, so the backward is
//     the same call on dy (fp32 views). In place allowed (same dtype).
#define APT_BACKEND_TRANSFORMER_OPS(X)                                                                        \
    X(gemm_batched,                                                                                           \
      (AptBackend * be, bool trans_a, bool trans_b, int M, int N, int K, float alpha, AptTensor A, int lda,   \
       long long sA, AptTensor B, int ldb, long long sB, float beta, AptTensor C, int ldc, long long sC,      \
       int batch, const float *bias),                                                                         \
      (be, trans_a, trans_b, M, N, K, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch, bias))          \
    X(layernorm_forward,                                                                                      \
      (AptBackend * be, int R, int D, AptTensor x, const float *gamma, const float *beta, float eps,          \
       AptTensor y, float *mean, float *rstd),                                                                \
      (be, R, D, x, gamma, beta, eps, y, mean, rstd))                                                         \
    X(layernorm_backward,                                                                                     \
      (AptBackend * be, int R, int D, AptTensor x, const float *dy, const float *gamma, const float *mean,    \
       const float *rstd, float *dx, float *dgamma, float *dbeta),                                            \
      (be, R, D, x, dy, gamma, mean, rstd, dx, dgamma, dbeta))                                                \
    X(gelu_forward, (AptBackend * be, size_t n, AptTensor x, AptTensor y), (be, n, x, y))                    \
    X(gelu_backward, (AptBackend * be, size_t n, AptTensor x, const float *dy, float *dx),                   \
      (be, n, x, dy, dx))                                                                                     \
    X(softmax_forward, (AptBackend * be, int R, int L, AptTensor x, AptTensor y), (be, R, L, x, y))          \
    X(softmax_backward, (AptBackend * be, int R, int L, AptTensor y, const float *dy, float *dx),            \
      (be, R, L, y, dy, dx))                                                                                  \
    X(vit_embed_forward,                                                                                      \
      (AptBackend * be, int n, int P, int D, const float *patch, const float *cls, const float *pos,          \
       AptTensor y),                                                                                          \
      (be, n, P, D, patch, cls, pos, y))                                                                      \
    X(vit_embed_backward,                                                                                     \
      (AptBackend * be, int n, int P, int D, const float *dy, float *dpatch, float *dcls, float *dpos),       \
      (be, n, P, D, dy, dpatch, dcls, dpos))                                                                  \
    X(token_pool_forward, (AptBackend * be, int n, int T, int D, bool mean, AptTensor x, float *y),          \
      (be, n, T, D, mean, x, y))                                                                              \
    X(token_pool_backward, (AptBackend * be, int n, int T, int D, bool mean, const float *dy, float *dx),    \
      (be, n, T, D, mean, dy, dx))                                                                            \
    X(drop_path,                                                                                              \
      (AptBackend * be, int n, size_t len, float p, uint64_t seed, uint32_t epoch, uint32_t step,             \
       uint32_t sample0, uint32_t layer, AptTensor x, AptTensor y),                                           \
      (be, n, len, p, seed, epoch, step, sample0, layer, x, y))

// ---- step timers (src/train/step_timer.c), a third X-macro list of the same form (the guard backend
// wraps it like the others). A timer set holds n time stamps taken in the backend's order of execution:
//   cpu (and guard, which runs the cpu table): the host's monotonic clock when timer_record is called;
//     every cpu op is synchronous, so that is the moment the work issued before it ended;
//   cuda: an event recorded on the compute stream (cudaEventRecord: no host wait); its time is when the
//     stream reached it. The device communicator's collectives (NCCL) run on that stream and gradient
//     bucket waits are stream waits, so communication is on the same timeline.
// The caller owns the AptTimerSet struct; the backend fills n, s (host) and impl.
//   timer_create: a set of n >= 1 stamps, s[n] zeroed (set-up time).
//   timer_free:   releases s and impl.
//   timer_record: stamp i (< n) := now, in the backend's order.
//   timer_read:   s[i] = seconds from stamp 0 to stamp i, for i < n_read (stamps 0 .. n_read - 1 recorded
//                 since they were last read); waits until stamp n_read - 1 has been reached (cuda:
//                 cudaEventSynchronize on it), which costs nothing for stamps before a blocking copy the
//                 host has already done.
typedef struct AptTimerSet {
    int n;      // stamps
    double *s;  // [n] host memory: seconds since stamp 0, written by timer_read
    void *impl; // backend-private (cpu: host clock readings; cuda: cudaEvent_t [n])
} AptTimerSet;
#define APT_BACKEND_TIMER_OPS(X)                                                                             \
    X(timer_create, (AptBackend * be, int n, AptTimerSet *ts), (be, n, ts))                                  \
    X(timer_free, (AptBackend * be, AptTimerSet * ts), (be, ts))                                             \
    X(timer_record, (AptBackend * be, AptTimerSet * ts, int i), (be, ts, i))                                 \
    X(timer_read, (AptBackend * be, AptTimerSet * ts, int n_read), (be, ts, n_read))

struct AptBackend {
    const char *name; // "cpu" | "cuda" | "guard" (a profiling wrapper keeps its inner backend's name)
    AptLayout act_layout; // layout of the bf16 chain's views (above the op list): NHWC on cpu, NCHW on cuda
    // A wrapper backend (guard, profile: src/backend/guard/, src/backend/profile/) runs every op on this
    // inner table and owns it; NULL for a real backend. Code that needs a backend's private state (the
    // CUDA stream, precision settings) goes through apt_backend_base(be), never be->impl of a wrapper.
    AptBackend *wrapped;

    // ---- memory (set-up time for alloc/free; copy/sync any time) ----
    void *(*alloc)(AptBackend *be, size_t bytes); // 64-byte aligned; never NULL (fatal on failure)
    void (*free)(AptBackend *be, void *p);
    // Blocking for host<->device directions (the host buffer may be reused on return); D2D is ordered
    // on the backend's stream.
    void (*copy)(AptBackend *be, void *dst, const void *src, size_t bytes, AptCopyDir dir);
    // The batch upload: host -> backend memory without waiting for the device (CUDA: the host buffer is
    // copied into one of two pinned staging slots, then to dst on a copy stream, and an event is recorded;
    // the host waits only until the slot's upload before the previous one has left it). The host buffer
    // may be reused (the loader may recycle the batch) as soon as upload returns. The copy is NOT ordered
    // after ops already enqueued: dst must not be read or written by any op still in flight (the trainer
    // alternates two input buffers and issues batch k + 1's upload during step k, into the buffer step
    // k - 1 read, whose ops ended at step k - 1's blocking scalar read). upload_wait orders the ops
    // enqueued after it behind every upload started before it (CUDA: the compute stream waits on the last
    // upload's event, and the copy stream is in order; the host does not wait). So an upload overlaps the
    // ops in flight when it is issued, and only the ops after the next upload_wait depend on it.
    // cpu and guard: upload is a synchronous copy and upload_wait does nothing.
    void (*upload)(AptBackend *be, void *dst, const void *src, size_t bytes);
    void (*upload_wait)(AptBackend *be);
    void (*sync)(AptBackend *be);
    // Optional (NULL where every op has finished when it returns: cpu, guard). A host wait that can be
    // interrupted: start != 0 records a marker after the ops enqueued so far; returns 1 once the device
    // has passed the last marker, 0 while it has not (CUDA: cudaEventRecord / cudaEventQuery). A device
    // fault is fatal. The trainer polls this between checks of NCCL's asynchronous errors and the
    // watchdog's verdict (src/train/device_wait.c) instead of blocking in a stream synchronisation.
    int (*poll)(AptBackend *be, int start);

#define APT_BACKEND_OP_FIELD(name, params, args) void(*name) params;
    APT_BACKEND_OPS(APT_BACKEND_OP_FIELD)
#undef APT_BACKEND_OP_FIELD

    void (*destroy)(AptBackend *be);
    void *impl;

    // ---- transformer ops (ViT, src/nn/vit.c): APT_BACKEND_TRANSFORMER_OPS above ----
#define APT_BACKEND_OP_FIELD(name, params, args) void(*name) params;
    APT_BACKEND_TRANSFORMER_OPS(APT_BACKEND_OP_FIELD)
#undef APT_BACKEND_OP_FIELD

    // ---- step timers: APT_BACKEND_TIMER_OPS above ----
#define APT_BACKEND_OP_FIELD(name, params, args) void(*name) params;
    APT_BACKEND_TIMER_OPS(APT_BACKEND_OP_FIELD)
#undef APT_BACKEND_OP_FIELD
};

// name: "cpu" | "cuda" | "auto" (cuda when a device is usable, else cpu; the log says which). Never NULL:
// an unknown name, or "cuda" without CUDA support or a usable device, is a one-line user error.
// local_rank: this process's rank within its node; a CUDA backend selects device local_rank (modulo the
// devices visible; the one visible device when the launcher binds one GPU per task) before it makes
// any other CUDA call. apt_backend_create(name) is apt_backend_create_on(name, 0).
// Test backend: with APT_GUARD_BACKEND=1 in the environment, "cpu" (and "auto" without a GPU) create
// the guard backend instead (src/backend/guard/): the CPU kernels over memory host code cannot read.
AptBackend *apt_backend_create(const char *name);
AptBackend *apt_backend_create_on(const char *name, int local_rank);
void apt_backend_destroy(AptBackend *be);
// True when the backend's memory is the host's (the "cpu" table): host code may read it directly.
bool apt_backend_is_host(const AptBackend *be);
// The real backend under any wrappers (be itself when be->wrapped is NULL): the one whose impl holds
// the kernels' handles (apt_backend_cuda_stream, apt_backend_cuda_set_math, timer stamps).
static inline AptBackend *apt_backend_base(AptBackend *be) {
    while (be && be->wrapped)
        be = be->wrapped;
    return be;
}

// Implementations (backend.c is the only caller, tests aside).
AptBackend *apt_backend_cpu_create(void);
AptBackend *apt_backend_cuda_create(const char **why); // NULL + reason (static string) when unusable
AptBackend *apt_backend_cuda_create_on(int local_rank, const char **why); // selects the device first
AptBackend *apt_backend_guard_create(void);
// The PCI bus id ("0000:3b:00.0") of the GPU a CUDA backend runs on, for the trainer's check that no two
// ranks on a node share a GPU: 0 and the id in out, or -1 when be is not a CUDA backend (or aptrain was
// built without CUDA: cuda_stub.c).
int apt_backend_cuda_pci_bus_id(const AptBackend *be, char *out, int cap);
// The device stream every op of a CUDA backend runs on (a cudaStream_t), under any wrappers, for code
// that must order its own device work after the ops (the NCCL communicator, dist/comm_nccl_open.c);
// NULL for any other backend (and without CUDA: cuda_stub.c).
void *apt_backend_device_stream(AptBackend *be);

#ifdef __cplusplus
}
#endif
