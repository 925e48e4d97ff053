// cuda_step.cu — the step-tail ops of the CUDA table, twins of src/backend/cpu/cpu_step.c, cpu_optim.c and
// cpu_loss.c: float64 fill, precision casts, the sum of squares of the gradient norm (deterministic: a
// fixed number of chunks, each summed by one block in a fixed tree, then the chunks in index order),
// the finite flag, the optimizer updates (cuda_optim.cu kernels) and the ranking loss (cuda_loss.cu).
#include "backend/cuda/cuda_backend.h"
#include "cuda_ops.cuh"
#include "backend/cuda/cuda_loss.h"

#define STEP_THREADS 256
#define SUMSQ_CHUNKS 64 // fixed: the partition depends only on n, never on the device

__global__ void fill_f64_kernel(size_t n, double v, double *x) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        x[i] = v;
}

// Block c sums x[c * chunk, (c + 1) * chunk) in double: thread t takes elements t, t + 256, ... of the
// chunk, then the block tree combines the threads in a fixed order.
__global__ void sumsq_chunks_kernel(size_t n, size_t chunk, const float *x, double *partial) {
    __shared__ double sh[32];
    const size_t lo = blockIdx.x * chunk, hi = lo + chunk < n ? lo + chunk : n;
    double acc = 0.0;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += (double)x[i] * (double)x[i];
    acc = apt_block_sum(acc, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sumsq_finish_kernel(const double *partial, int nchunks, double *out, int accumulate) {
    double s = 0.0;
    for (int c = 0; c < nchunks; c++) s += partial[c];
    *out = accumulate ? *out + s : s;
}

__global__ void finite_kernel(size_t n, const float *x, double *flag) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        if (!isfinite(x[i])) *flag = 0.0; // every writer writes the same value: no race on the result
}

void apt_cuda_fill_f64(AptBackend *be, size_t n, double value, double *x) {
    if (!n) return;
    fill_f64_kernel<<<apt_cuda_grid_1d(n, STEP_THREADS), STEP_THREADS, 0, apt_cuda_impl(be)->stream>>>(n, value, x);
    CUDA_CHECK_LAUNCH();
}

// The cast op: dtype conversions in place of layout; CUDA keeps every view NCHW, so a permutation (NHWC on
// either side of a plane with C > 1 and HW > 1) is refused, naming the op.
void apt_cuda_cast(AptBackend *be, int N, int C, size_t HW, AptTensor x, AptTensor y) {
    const size_t n = (size_t)N * (size_t)C * HW;
    APT_CHECK(x.layout == y.layout || C == 1 || HW == 1, "cast: %s -> %s: cuda keeps every view NCHW",
              apt_layout_name(x.layout), apt_layout_name(y.layout));
    cudaStream_t st = apt_cuda_impl(be)->stream;
    if (!n) return;
    if (x.dtype == y.dtype) {
        if (x.p != y.p)
            CUDA_CHECK(cudaMemcpyAsync(y.p, x.p, n * apt_dtype_size(x.dtype), cudaMemcpyDeviceToDevice, st));
    } else if (x.dtype == APT_F32 && y.dtype == APT_BF16) {
        apt_cuda_cast_f32_to_bf16(st, (const float *)x.p, (uint16_t *)y.p, n);
    } else if (x.dtype == APT_BF16 && y.dtype == APT_F32) {
        apt_cuda_cast_bf16_to_f32(st, (const uint16_t *)x.p, (float *)y.p, n);
    } else {
        APT_CHECK(0, "cast: %s -> %s is not a cast of the op table", apt_dtype_name(x.dtype),
                  apt_dtype_name(y.dtype));
    }
}

void apt_cuda_sumsq(AptBackend *be, size_t n, const float *x, double *out, bool accumulate) {
    AptCudaImpl *m = apt_cuda_impl(be);
    const size_t chunk = n ? (n + SUMSQ_CHUNKS - 1) / SUMSQ_CHUNKS : 1;
    const int nchunks = n ? (int)((n + chunk - 1) / chunk) : 0;
    if (nchunks) {
        sumsq_chunks_kernel<<<nchunks, STEP_THREADS, 0, m->stream>>>(n, chunk, x, m->red);
        CUDA_CHECK_LAUNCH();
    }
    sumsq_finish_kernel<<<1, 1, 0, m->stream>>>(m->red, nchunks, out, accumulate ? 1 : 0);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_finite_check(AptBackend *be, size_t n, const float *x, double *flag) {
    if (!n) return;
    finite_kernel<<<apt_cuda_grid_1d(n, STEP_THREADS), STEP_THREADS, 0, apt_cuda_impl(be)->stream>>>(n, x, flag);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_sgd_update(AptBackend *be, float *w, const float *g, float *buf, size_t n, float lr, float wd,
                         float mu, bool nesterov) {
    apt_cuda_optim_sgd_update(apt_cuda_impl(be)->stream, w, g, buf, n, lr, wd, mu, nesterov);
}

void apt_cuda_adam_update(AptBackend *be, float *w, const float *g, float *m, float *v, size_t n, float lr,
                          float b1, float b2, float eps, float wd, bool decoupled, long t) {
    apt_cuda_optim_adam_update(apt_cuda_impl(be)->stream, w, g, m, v, n, lr, b1, b2, eps, wd, decoupled, t);
}

// ---- one pass over the segment table (backend.h AptSegment): a handful of launches per step instead of
// three per tensor. grad_sumsq: block (c, s) sums chunk c of segment s exactly as sumsq_chunks_kernel does
// for that tensor (same chunking, same tree) into seg[s].part[c]; one thread then adds each segment's
// chunks in index order and the segments in table order: the per-tensor sumsq calls' bits.
static_assert(SUMSQ_CHUNKS == APT_SEG_PARTS, "a segment keeps one partial per sumsq chunk");

__device__ static inline void seg_chunking(size_t n, size_t *chunk, int *nchunks) {
    *chunk = n ? (n + SUMSQ_CHUNKS - 1) / SUMSQ_CHUNKS : 1;
    *nchunks = n ? (int)((n + *chunk - 1) / *chunk) : 0;
}

__global__ void seg_sumsq_chunks_kernel(AptSegment *seg, const float *g) {
    __shared__ double sh[32];
    AptSegment *sg = &seg[blockIdx.y];
    size_t chunk;
    int nchunks;
    seg_chunking(sg->numel, &chunk, &nchunks);
    if ((int)blockIdx.x >= nchunks) return; // block-uniform
    const float *x = g + sg->offset;
    const size_t lo = blockIdx.x * chunk, hi = lo + chunk < sg->numel ? lo + chunk : sg->numel;
    double acc = 0.0;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += (double)x[i] * (double)x[i];
    acc = apt_block_sum(acc, sh);
    if (threadIdx.x == 0) sg->part[blockIdx.x] = acc;
}

__global__ void seg_sumsq_finish_kernel(const AptSegment *seg, int n_seg, double *out) {
    double total = 0.0;
    for (int s = 0; s < n_seg; s++) {
        size_t chunk;
        int nchunks;
        seg_chunking(seg[s].numel, &chunk, &nchunks);
        double v = 0.0;
        for (int c = 0; c < nchunks; c++) v += seg[s].part[c];
        total = s == 0 ? v : total + v;
    }
    *out = total;
}

void apt_cuda_grad_sumsq(AptBackend *be, AptSegment *seg, int n_seg, const float *g, double *out) {
    AptCudaImpl *m = apt_cuda_impl(be);
    if (n_seg > 0) {
        seg_sumsq_chunks_kernel<<<dim3(SUMSQ_CHUNKS, (unsigned)n_seg), STEP_THREADS, 0, m->stream>>>(seg, g);
        CUDA_CHECK_LAUNCH();
    }
    seg_sumsq_finish_kernel<<<1, 1, 0, m->stream>>>(seg, n_seg, out);
    CUDA_CHECK_LAUNCH();
}

// optim_update: one launch, blocks (x, s) over segment s. Thread 0 of each block reads the finite flag
// and the sum of squares from backend memory and prepares the segment's float32 scalars in float64 with
// explicit rounding intrinsics (no contraction into an FMA: the host preparation of sgd_update /
// adam_update rounds each operation), then every thread clips (one float32 product, __fmul_rn: never
// fused with what follows, as the separate scale kernel was) and updates its elements with the formulas
// of sgd_kernel / adam_kernel.
struct SegScalars {
    int skip;
    float coef, lr, step_size, decay_mul, wd_coupled, wd;
};

__global__ void seg_update_kernel(int kind, const AptSegment *seg, double lr_base, double max_norm, float mu,
                                  int nesterov, float b1, float b2, float eps, double bc1, float bc2_sqrt,
                                  float *w, float *g, float *m, float *v, const double *scal) {
    __shared__ SegScalars k;
    const AptSegment *sg = &seg[blockIdx.y];
    if (threadIdx.x == 0) {
        const double sumsq = scal[APT_SCALAR_SUMSQ];
        k.skip = scal[APT_SCALAR_FINITE] == 0.0 || !isfinite(sumsq);
        const double norm = sqrt(sumsq);
        k.coef = (max_norm <= 0 || !(norm > max_norm)) ? 1.0f : (float)__ddiv_rn(max_norm, __dadd_rn(norm, 1e-6));
        k.lr = (float)__dmul_rn(__dmul_rn(lr_base, sg->lr_mul), sg->lr_scale);
        k.wd = sg->wd;
        k.step_size = (float)__ddiv_rn((double)k.lr, bc1);
        const bool decoupled = kind == APT_UPDATE_ADAMW;
        k.wd_coupled = decoupled ? 0.0f : sg->wd;
        k.decay_mul = decoupled ? (float)__dsub_rn(1.0, __dmul_rn((double)k.lr, (double)sg->wd)) : 1.0f;
    }
    __syncthreads();
    if (k.skip) return; // block-uniform
    const size_t n = sg->numel, o = sg->offset;
    float *wp = w + o, *gp = g + o, *mp = m + o;
    const bool clip = k.coef != 1.0f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x) {
        float gi = gp[i];
        if (clip) gp[i] = gi = __fmul_rn(gi, k.coef);
        if (kind == APT_UPDATE_SGD) {
            const float d = gi + k.wd * wp[i];
            if (mu == 0.0f) {
                wp[i] -= k.lr * d;
                continue;
            }
            const float b = mu * mp[i] + d;
            mp[i] = b;
            wp[i] -= k.lr * (nesterov ? d + mu * b : b);
        } else {
            float *vp = v + o;
            const float c1 = 1.0f - b1, c2 = 1.0f - b2;
            const float wi = wp[i] * k.decay_mul;
            const float d = gi + k.wd_coupled * wi;
            const float mi = b1 * mp[i] + c1 * d;
            const float vi = b2 * vp[i] + c2 * d * d;
            mp[i] = mi;
            vp[i] = vi;
            wp[i] = wi - k.step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
        }
    }
}

void apt_cuda_optim_update(AptBackend *be, const AptOptimPass *pass, float *w, float *g, float *m, float *v,
                           const double *scal) {
    if (pass->n_seg <= 0) return;
    // The bias corrections depend only on t: on the host in float64, as the per-tensor update does.
    const bool adam = pass->kind != APT_UPDATE_SGD;
    const double bc1 = adam ? 1.0 - pow((double)pass->b1, (double)pass->t) : 1.0;
    const double bc2 = adam ? 1.0 - pow((double)pass->b2, (double)pass->t) : 1.0;
    const float bc2_sqrt = (float)sqrt(bc2);
    // Blocks per segment: enough for the largest one (grid-stride beyond); small segments' extra blocks
    // exit after the scalar preparation.
    size_t gx = (pass->max_numel + STEP_THREADS - 1) / STEP_THREADS;
    if (gx > 1024) gx = 1024;
    if (gx < 1) gx = 1;
    seg_update_kernel<<<dim3((unsigned)gx, (unsigned)pass->n_seg), STEP_THREADS, 0, apt_cuda_impl(be)->stream>>>(
        (int)pass->kind, pass->seg, pass->lr, pass->max_norm, pass->mu, pass->nesterov ? 1 : 0, pass->b1, pass->b2,
        pass->eps, bc1, bc2_sqrt, w, g, m, v, scal);
    CUDA_CHECK_LAUNCH();
}

// Only Smooth-AP and the PNP family have fused kernels; *ws = NULL tells the caller to refuse the rest.
void apt_cuda_loss_create(AptBackend *be, const struct AptLossParams *p, int b_max, int B_max, int D_max,
                          int m_max, void **ws) {
    *ws = NULL;
    if (!apt_loss_cuda_supports(p)) return;
    *ws = apt_loss_cuda_workspace_create(b_max, B_max, D_max, m_max > 0 ? m_max : B_max, 0,
                                         (void *)apt_cuda_impl(be)->stream);
}

void apt_cuda_loss_free(AptBackend *be, void *ws) {
    (void)be;
    apt_loss_cuda_workspace_free((AptLossCudaWorkspace *)ws);
}

void apt_cuda_loss_compute(AptBackend *be, void *ws, const struct AptLossParams *p, const float *E,
                           const int *labels, int B, int D, int q_begin, int q_end, float *dE, double *loss_part) {
    AptLossCudaWorkspace *w = (AptLossCudaWorkspace *)ws;
    AptLossIn in = {};
    in.E = E, in.labels = labels, in.B = B, in.D = D, in.q_begin = q_begin, in.q_end = q_end;
    in.M = p->memory_rows; // cross-batch memory rows after the batch (loss_types.h)
    AptLossOut out = {};
    out.dE = dE;
    apt_loss_compute_cuda_async(w, p, &in, &out);
    CUDA_CHECK(cudaMemcpyAsync(loss_part, apt_loss_cuda_loss_dev(w), sizeof(double), cudaMemcpyDeviceToDevice,
                               apt_cuda_impl(be)->stream));
}
