// profile_work.c — the work per call of the ops that know theirs (profile_work.h): FLOPs for the
// products, bytes moved for the rest. Each definition takes the op's full parameter list; most parameters
// are unused by design.
#include "profile_work.h"

#include "backend/loss_types.h"

const int apt_profile_work_linked = 1;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
// FLOPs: multiply-adds count 2. Convolutions (fwd, bwd-data, bwd-weights alike): 2 n K C R S P Q, the
// direct convolution's count whatever algorithm runs (Winograd/FFT do fewer); GEMMs 2 M N K.
static double conv_flops(const AptConvDesc *d, int n) {
    return 2.0 * n * d->K * d->C * d->R * d->S * d->P * d->Q;
}
void apt_profile_work_gemm(ProfWork *wk, AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha,
                           AptTensor A, int lda, AptTensor B, int ldb, float beta, float *C, int ldc) {
    wk->flops = 2.0 * M * N * K;
}
void apt_profile_work_gemm_batched(ProfWork *wk, AptBackend *be, bool ta, bool tb, int M, int N, int K,
                                   float alpha, AptTensor A, int lda, long long sA, AptTensor B, int ldb,
                                   long long sB, float beta, AptTensor C, int ldc, long long sC, int batch,
                                   const float *bias) {
    wk->flops = 2.0 * M * N * K * batch;
}
void apt_profile_work_conv2d_forward(ProfWork *wk, AptBackend *be, const AptConvDesc *d, int n, AptTensor x,
                                     AptTensor w, const float *bias, AptTensor y) {
    wk->flops = conv_flops(d, n);
}
void apt_profile_work_conv2d_backward_data(ProfWork *wk, AptBackend *be, const AptConvDesc *d, int n,
                                           AptTensor dy, AptTensor w, AptTensor dx) {
    wk->flops = conv_flops(d, n);
}
void apt_profile_work_conv2d_backward_weights(ProfWork *wk, AptBackend *be, const AptConvDesc *d, int n,
                                              AptTensor x, AptTensor dy, float *dw, float *db) {
    wk->flops = conv_flops(d, n);
}
// linear: y = x w^T is one N x out x in GEMM; backward one more for dw and one for dx (when asked).
void apt_profile_work_linear_forward(ProfWork *wk, AptBackend *be, int N, int in, int out, const float *x,
                                     const float *w, const float *b, float *y) {
    wk->flops = 2.0 * N * in * out;
}
void apt_profile_work_linear_backward(ProfWork *wk, AptBackend *be, int N, int in, int out, const float *x,
                                      const float *w, const float *dy, float *dx, float *dw, float *db) {
    wk->flops = 2.0 * N * in * out * ((dx != NULL) + (dw != NULL));
}
// The ranking loss: its GEMMs, S = E_q E^T [b, B] and the two products back to dE (cpu_loss.c), 6 b B D
// (B: the gallery, batch plus cross-batch memory rows);
// the b m B sigmoid terms of the row functions (forward and backward, DESIGN §3) are not counted, as an
// exp is no fixed number of FLOPs: the figure is a lower bound of the work done.
void apt_profile_work_loss_compute(ProfWork *wk, AptBackend *be, void *ws, const struct AptLossParams *p,
                                   const float *E, const int *labels, int B, int D, int q_begin, int q_end,
                                   float *dE, double *loss_part) {
    wk->flops = 6.0 * (q_end - q_begin) * (double)(B + p->memory_rows) * D; // gallery: batch + memory
}
// Bytes moved: every element read plus every element written once, in its view's dtype (fp32 4 bytes,
// bf16 2; float64 8); per-channel vectors and [N, C] side inputs are left out (small beside the tensors).
static double sz(AptTensor t) {
    return t.p ? (double)apt_dtype_size(t.dtype) : 0.0;
}
void apt_profile_work_bn_forward(ProfWork *wk, AptBackend *be, int N, int C, int HW, AptTensor x,
                                 const float *mean, const float *var, float eps, const float *gamma,
                                 const float *beta, AptTensor y) {
    wk->bytes = (sz(x) + sz(y)) * N * C * HW;
}
void apt_profile_work_bn_backward_affine(ProfWork *wk, AptBackend *be, int N, int C, int HW, AptTensor x,
                                         AptTensor dy, const float *mean, const float *var, float eps,
                                         const float *gamma, AptTensor dx, float *dgamma, float *dbeta) {
    wk->bytes = (sz(x) + sz(dy) + sz(dx)) * N * C * HW;
}
void apt_profile_work_bn_stats(ProfWork *wk, AptBackend *be, int N, int C, int HW, AptTensor x,
                               double *sums) {
    wk->bytes = sz(x) * N * C * HW;
}
void apt_profile_work_bn_backward_stats(ProfWork *wk, AptBackend *be, int N, int C, int HW, AptTensor x,
                                        AptTensor dy, const float *mean, const float *var, float eps,
                                        double *sums) {
    wk->bytes = (sz(x) + sz(dy)) * N * C * HW;
}
void apt_profile_work_bn_backward_data(ProfWork *wk, AptBackend *be, int N, int C, int HW, AptTensor x,
                                       AptTensor dy, const float *mean, const float *var, float eps,
                                       const float *gamma, const double *sums, double count, AptTensor dx) {
    wk->bytes = (sz(x) + sz(dy) + sz(dx)) * N * C * HW;
}
void apt_profile_work_relu_forward(ProfWork *wk, AptBackend *be, size_t n, AptTensor x, AptTensor y) {
    wk->bytes = (sz(x) + sz(y)) * n;
}
void apt_profile_work_relu_backward(ProfWork *wk, AptBackend *be, size_t n, AptTensor y, AptTensor dy,
                                    AptTensor dx) {
    wk->bytes = (sz(y) + sz(dy) + sz(dx)) * n;
}
void apt_profile_work_add(ProfWork *wk, AptBackend *be, size_t n, AptTensor a, AptTensor b, AptTensor y) {
    wk->bytes = (sz(a) + sz(b) + sz(y)) * n;
}
void apt_profile_work_axpy(ProfWork *wk, AptBackend *be, size_t n, float alpha, const float *x, float *y) {
    wk->bytes = 12.0 * n;
}
void apt_profile_work_scale(ProfWork *wk, AptBackend *be, size_t n, float alpha, float *x) {
    wk->bytes = 8.0 * n;
}
void apt_profile_work_fill(ProfWork *wk, AptBackend *be, size_t n, float value, float *x) {
    wk->bytes = 4.0 * n;
}
void apt_profile_work_fill_f64(ProfWork *wk, AptBackend *be, size_t n, double value, double *x) {
    wk->bytes = 8.0 * n;
}
void apt_profile_work_cast(ProfWork *wk, AptBackend *be, int N, int C, size_t HW, AptTensor x, AptTensor y) {
    wk->bytes = (sz(x) + sz(y)) * N * C * (double)HW;
}
// The one-pass optimizer: per element, sgd reads w, g, m and writes w, m (20 bytes; +8 when clipping writes g
// back, not counted: the coefficient is in backend memory); adam/adamw also read and write v (28 bytes).
void apt_profile_work_optim_update(ProfWork *wk, AptBackend *be, const AptOptimPass *pass, float *w, float *g,
                                   float *m, float *v, const double *scal) {
    wk->bytes = (pass->kind == APT_UPDATE_SGD ? 20.0 : 28.0) * (double)pass->numel_total;
}
// Pooling: the input plane read (or written, backward) and the output (+ int32 argmax indices).
void apt_profile_work_maxpool_forward(ProfWork *wk, AptBackend *be, const AptPoolDesc *d, int n, AptTensor x,
                                      AptTensor y, int *idx) {
    wk->bytes = (double)n * d->C * (sz(x) * d->H * d->W + (sz(y) + 4.0) * d->P * d->Q);
}
void apt_profile_work_maxpool_backward(ProfWork *wk, AptBackend *be, const AptPoolDesc *d, int n,
                                       AptTensor dy, const int *idx, AptTensor dx) {
    wk->bytes = (double)n * d->C * (sz(dx) * d->H * d->W + (sz(dy) + 4.0) * d->P * d->Q);
}
void apt_profile_work_avgpool_forward(ProfWork *wk, AptBackend *be, const AptPoolDesc *d, int n,
                                      const float *x, float *y) {
    wk->bytes = 4.0 * n * d->C * ((double)d->H * d->W + d->P * d->Q);
}
void apt_profile_work_avgpool_backward(ProfWork *wk, AptBackend *be, const AptPoolDesc *d, int n,
                                       const float *dy, float *dx) {
    wk->bytes = 4.0 * n * d->C * ((double)d->H * d->W + d->P * d->Q);
}
void apt_profile_work_gap_forward(ProfWork *wk, AptBackend *be, int N, int C, int HW, AptTensor x, float *y) {
    wk->bytes = sz(x) * N * C * HW;
}
void apt_profile_work_gap_backward(ProfWork *wk, AptBackend *be, int N, int C, int HW, const float *dy,
                                   AptTensor dx) {
    wk->bytes = sz(dx) * N * C * HW;
}
void apt_profile_work_l2norm_forward(ProfWork *wk, AptBackend *be, int N, int D, const float *x, float *y) {
    wk->bytes = 8.0 * N * D;
}
void apt_profile_work_l2norm_backward(ProfWork *wk, AptBackend *be, int N, int D, const float *x,
                                      const float *y, const float *dy, float *dx) {
    wk->bytes = 16.0 * N * D;
}
// Reductions and optimizer updates over the flat buffers.
void apt_profile_work_sumsq(ProfWork *wk, AptBackend *be, size_t n, const float *x, double *out,
                            bool accumulate) {
    wk->bytes = 4.0 * n;
}
void apt_profile_work_finite_check(ProfWork *wk, AptBackend *be, size_t n, const float *x, double *flag) {
    wk->bytes = 4.0 * n;
}
// SGD: w read + written, g read, and with momentum buf read + written.
void apt_profile_work_sgd_update(ProfWork *wk, AptBackend *be, float *w, const float *g, float *buf, size_t n,
                                 float lr, float wd, float mu, bool nesterov) {
    wk->bytes = (mu != 0.0f ? 20.0 : 12.0) * n;
}
// Adam: w, m, v read + written, g read.
void apt_profile_work_adam_update(ProfWork *wk, AptBackend *be, float *w, const float *g, float *m, float *v,
                                  size_t n, float lr, float b1, float b2, float eps, float wd, bool decoupled,
                                  long t) {
    wk->bytes = 28.0 * n;
}
// Transformer elementwise and row ops (ViT).
void apt_profile_work_layernorm_forward(ProfWork *wk, AptBackend *be, int R, int D, AptTensor x,
                                        const float *gamma, const float *beta, float eps, AptTensor y,
                                        float *mean, float *rstd) {
    wk->bytes = (sz(x) + sz(y)) * R * D;
}
void apt_profile_work_layernorm_backward(ProfWork *wk, AptBackend *be, int R, int D, AptTensor x,
                                         const float *dy, const float *gamma, const float *mean,
                                         const float *rstd, float *dx, float *dgamma, float *dbeta) {
    wk->bytes = (sz(x) + 4.0 + (dx ? 4 : 0)) * R * D;
}
void apt_profile_work_gelu_forward(ProfWork *wk, AptBackend *be, size_t n, AptTensor x, AptTensor y) {
    wk->bytes = (sz(x) + sz(y)) * n;
}
void apt_profile_work_gelu_backward(ProfWork *wk, AptBackend *be, size_t n, AptTensor x, const float *dy,
                                    float *dx) {
    wk->bytes = (sz(x) + 8.0) * n;
}
void apt_profile_work_softmax_forward(ProfWork *wk, AptBackend *be, int R, int L, AptTensor x, AptTensor y) {
    wk->bytes = (sz(x) + sz(y)) * R * L;
}
void apt_profile_work_softmax_backward(ProfWork *wk, AptBackend *be, int R, int L, AptTensor y,
                                       const float *dy, float *dx) {
    wk->bytes = (sz(y) + 8.0) * R * L;
}
#pragma GCC diagnostic pop
