// cuda_loss.cu — Smooth-AP, PNP and the Recall@k surrogate on the device: the twin of
// src/backend/cpu/cpu_loss.c + cpu_loss_smoothap.c + cpu_loss_pnp.c + cpu_loss_recallk.c for float32
// (interface and semantics in cuda_loss.h; the math is documented in the cpu_loss_<name>.c files).
//
// Per block of nb local queries [r0, r0 + nb):
//   1. S[nb, B] = E[r0:r0+nb] E^T                         cuBLAS SGEMM (fp32 math; TF32 never enabled)
//   2. pair_sums:  one thread block per (query t, positive k). Over j it sums, in double,
//        Σ G, Σ_{j in class} G, Σ G', Σ_{j in class} G'    (G evaluated in float from a double exponent)
//      and turns them into the per-pair coefficients of the backward pass (cpu_loss_smoothap.c: ca, cp;
//      cpu_loss_pnp.c: c0),
//      the pair's "acc" (what the positive i itself receives: -Σ_j c_j G'_j) and the pair's loss term.
//   3. query_loss: per query, the loss from its pair terms (recallk: pass 1 left the ranks there, and
//      this step also forms the pair coefficients, which need all of a query's ranks because of the
//      min(., k) clip); then one block sums the nb query losses in a fixed tree and adds them to the
//      running loss (one thread, stream order: deterministic).
//   4. grad_rows:  one thread per (t, j): gs[t, j] = Σ_k c(t, k, j) G'(s_tj - s_t,i_k) - [j positive] acc,
//      written in place over S[t, j] (each thread reads only its own S element; s_i comes from step 2).
//   5. dE (+)= S^T E_q ; dE[r0:r0+nb] += S E                   two SGEMMs (beta = 1 after the first block)
// Cross-batch memory (in->M rows after the B batch rows, loss.memory): the gallery is G = B + M rows. Steps 1-4
// and the second GEMM of step 5 run over the G gallery columns (B above reads G); the first GEMM of step 5 keeps
// the B batch columns of S only (the memory is detached), and the normaliser counts batch rows only.
// Work is O(nb * m * B) sigmoid evaluations twice (steps 2 and 4 re-evaluate instead of storing G'),
// memory O(rows * B). Every sum has a fixed order: results are bitwise reproducible.
#include "backend/cuda/cuda_loss.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

#include "backend/loss_pair.h"
#include "backend/loss_types.h"

#define APT_LOSS_THREADS 256
// Default S block: at most 1 GiB of similarities per block of queries.
#define APT_LOSS_S_BYTES ((size_t)1 << 30)

// The per-pair arithmetic lives in backend/loss_pair.h, shared with a host test of the decomposition.
typedef AptLossPairK LossK;
static_assert((int)APT_PNP_O == (int)APT_LP_PNP_O && (int)APT_PNP_DS == (int)APT_LP_PNP_DS &&
                  (int)APT_PNP_DQ == (int)APT_LP_PNP_DQ && (int)APT_PNP_IU == (int)APT_LP_PNP_IU &&
                  (int)APT_PNP_IB == (int)APT_LP_PNP_IB,
              "loss_pair.h numbers the PNP variants as loss_types.h does");

// Per-(query, positive) results of pair_sums, [rows * m_max] each.
typedef struct {
    float *s_i;      // s_qi
    double *c1;      // smoothap: ca (every j); pnp: c0 (negatives)
    double *c2;      // smoothap: cp (positives, added to ca); pnp: unused
    double *acc;     // Σ_j c_j G'_j: subtracted from gs[i]
    double *term;    // smoothap: R_pos / R_all; pnp: f(N)
} PairBuf;

struct AptLossCudaWorkspace {
    int b_max, B_max, D_max, m_max, rows;
    cudaStream_t stream;
    cublasHandle_t cublas;
    float *S;          // [rows, B_max] similarities, then their gradient in place
    PairBuf pair;
    double *loss_q;    // [rows] per-query loss of the current block
    double *loss;      // [1] running loss_part of the call
    // Label grouping, computed on the host per call and uploaded in one copy (layout of `grp_dev`):
    //   perm [B] rows sorted by (label, row); grp_of [B] class of each row; rank [B] index of the row within
    //   its class; start [B + 1] first position of each class in perm.
    int *grp_dev, *grp_host;   // device / pinned host, 4 * B_max + 1 ints
    uint64_t *keys;            // [B_max] host sort keys
    cudaEvent_t uploaded;      // recorded after the label upload (host buffer reusable once reached)
    double *loss_host;         // pinned, 1 double
};

// Step 2. grid (m_max, nb), APT_LOSS_THREADS threads: block (k, t) owns pair (q = r0 + t, k-th positive).
__global__ void pair_sums_kernel(const float *S, int B, int r0, const int *perm, const int *grp_of,
                                 const int *start, LossK k, int m_max, PairBuf pb) {
    __shared__ double red[32];
    const int t = blockIdx.y, kk = blockIdx.x, q = r0 + t, g = grp_of[q];
    const int p0 = start[g], npos = start[g + 1] - p0;
    const size_t slot = (size_t)t * m_max + kk;
    if (kk >= npos) return; // no such positive: the slot is never read
    const int i = perm[p0 + kk];
    const float *row = S + (size_t)t * B;
    const float si = row[i];
    if (!apt_lp_pair_scored(&k, q, i)) { // block-uniform branch
        if (threadIdx.x == 0) {
            pb.s_i[slot] = si;
            pb.c1[slot] = pb.c2[slot] = pb.acc[slot] = pb.term[slot] = 0.0;
        }
        return;
    }
    double sums[4] = {0.0, 0.0, 0.0, 0.0};
    for (int j = threadIdx.x; j < B; j += blockDim.x) apt_lp_pair_accum(&k, q, i, j, grp_of[j] == g, row[j], si, sums);
    for (int v = 0; v < 4; v++) sums[v] = apt_block_sum(sums[v], red);
    if (threadIdx.x != 0) return;
    pb.s_i[slot] = si;
    apt_lp_pair_finish(&k, npos, sums, &pb.c1[slot], &pb.c2[slot], &pb.acc[slot], &pb.term[slot]);
}

// Step 3a. One thread per query of the block: its loss from the pair terms, in positive order; for recallk
// also the pair coefficients, which need every rank of the query (the clip of min(., k)).
__global__ void query_loss_kernel(int nb, int r0, const int *perm, const int *grp_of, const int *start, LossK k,
                                  int m_max, PairBuf pb, double *loss_q) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nb) return;
    const int g = grp_of[r0 + t];
    const size_t base = (size_t)t * m_max;
    loss_q[t] = apt_lp_query_finish(&k, r0 + t, start[g + 1] - start[g], perm + start[g], pb.term + base,
                                    pb.c1 + base, pb.acc + base);
}

// Step 3b. One block: loss (+)= Σ_t loss_q[t], fixed tree. (A single block keeps the order fixed.)
__global__ void loss_sum_kernel(int nb, const double *loss_q, double *loss, int first) {
    __shared__ double red[32];
    double v = 0.0;
    for (int t = threadIdx.x; t < nb; t += blockDim.x) v += loss_q[t];
    v = apt_block_sum(v, red);
    if (threadIdx.x == 0) *loss = first ? v : *loss + v;
}

// Step 4. grid (ceil(B / threads), nb): gs[t, j] in place over S[t, j] (each thread reads only its own
// S element; the s_i come from the pair arrays).
__global__ void grad_rows_kernel(float *S, int B, int r0, const int *perm, const int *grp_of, const int *rank,
                                 const int *start, LossK k, int m_max, PairBuf pb) {
    const int t = blockIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= B) return;
    const int q = r0 + t, g = grp_of[q], p0 = start[g], npos = start[g + 1] - p0;
    float *row = S + (size_t)t * B;
    const size_t base = (size_t)t * m_max;
    const bool same = grp_of[j] == g;
    row[j] = (float)apt_lp_grad(&k, q, j, same, row[j], npos, perm + p0, pb.s_i + base, pb.c1 + base, pb.c2 + base,
                                pb.acc + base, same ? rank[j] : 0);
}

// ---- host side ----

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int apt_loss_cuda_supports(const AptLossParams *p) {
    if (!p || !p->impl) return 0;
    return apt_lp_kind_of(p->impl->id) != APT_LP_NONE; // the CUDA column of loss_names.h
}

AptLossCudaWorkspace *apt_loss_cuda_workspace_create(int b_max, int B_max, int D_max, int m_max, int rows_max,
                                                     void *stream) {
    APT_CHECK(b_max > 0 && B_max >= b_max && D_max > 0 && m_max > 0 && m_max <= B_max && rows_max >= 0,
              "cuda loss workspace: b_max %d B_max %d D_max %d m_max %d rows_max %d", b_max, B_max, D_max, m_max,
              rows_max);
    AptLossCudaWorkspace *ws = (AptLossCudaWorkspace *)apt_calloc(1, sizeof *ws);
    ws->b_max = b_max;
    ws->B_max = B_max;
    ws->D_max = D_max;
    ws->m_max = m_max;
    size_t cap = APT_LOSS_S_BYTES / ((size_t)B_max * sizeof(float));
    if (cap < 1) cap = 1;
    if (rows_max > 0) cap = (size_t)rows_max;
    if (cap > 65535) cap = 65535; // the rows of a block are grid.y of two kernels
    ws->rows = (size_t)b_max < cap ? b_max : (int)cap;
    ws->stream = (cudaStream_t)stream;
    CUBLAS_CHECK(cublasCreate(&ws->cublas));
    CUBLAS_CHECK(cublasSetStream(ws->cublas, ws->stream));
    // Plain fp32 math (TF32 is never enabled here) and no atomics: the GEMMs must be as exact as the CPU's
    // and reproducible run to run.
    CUBLAS_CHECK(cublasSetMathMode(ws->cublas, CUBLAS_DEFAULT_MATH));
    CUBLAS_CHECK(cublasSetAtomicsMode(ws->cublas, CUBLAS_ATOMICS_NOT_ALLOWED));
    const size_t np = (size_t)ws->rows * (size_t)m_max;
    CUDA_CHECK(cudaMalloc((void **)&ws->S, (size_t)ws->rows * (size_t)B_max * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&ws->pair.s_i, np * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&ws->pair.c1, np * sizeof(double)));
    CUDA_CHECK(cudaMalloc((void **)&ws->pair.c2, np * sizeof(double)));
    CUDA_CHECK(cudaMalloc((void **)&ws->pair.acc, np * sizeof(double)));
    CUDA_CHECK(cudaMalloc((void **)&ws->pair.term, np * sizeof(double)));
    CUDA_CHECK(cudaMalloc((void **)&ws->loss_q, (size_t)ws->rows * sizeof(double)));
    CUDA_CHECK(cudaMalloc((void **)&ws->loss, sizeof(double)));
    const size_t ng = 4 * (size_t)B_max + 1;
    CUDA_CHECK(cudaMalloc((void **)&ws->grp_dev, ng * sizeof(int)));
    CUDA_CHECK(cudaMallocHost((void **)&ws->grp_host, ng * sizeof(int)));
    CUDA_CHECK(cudaMallocHost((void **)&ws->loss_host, sizeof(double)));
    ws->keys = (uint64_t *)apt_malloc((size_t)B_max * sizeof(uint64_t));
    CUDA_CHECK(cudaEventCreateWithFlags(&ws->uploaded, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventRecord(ws->uploaded, ws->stream));
    return ws;
}

void apt_loss_cuda_workspace_free(AptLossCudaWorkspace *ws) {
    if (!ws) return;
    CUDA_CHECK(cudaStreamSynchronize(ws->stream));
    cudaFree(ws->S);
    cudaFree(ws->pair.s_i);
    cudaFree(ws->pair.c1);
    cudaFree(ws->pair.c2);
    cudaFree(ws->pair.acc);
    cudaFree(ws->pair.term);
    cudaFree(ws->loss_q);
    cudaFree(ws->loss);
    cudaFree(ws->grp_dev);
    cudaFreeHost(ws->grp_host);
    cudaFreeHost(ws->loss_host);
    cudaEventDestroy(ws->uploaded);
    cublasDestroy(ws->cublas);
    free(ws->keys);
    free(ws);
}

size_t apt_loss_cuda_workspace_bytes(const AptLossCudaWorkspace *ws) {
    const size_t np = (size_t)ws->rows * (size_t)ws->m_max;
    return (size_t)ws->rows * (size_t)ws->B_max * sizeof(float) + np * (sizeof(float) + 4 * sizeof(double)) +
           (size_t)ws->rows * sizeof(double) + sizeof(double) + (4 * (size_t)ws->B_max + 1) * sizeof(int);
}

const double *apt_loss_cuda_loss_dev(const AptLossCudaWorkspace *ws) { return ws->loss; }

// Group the G gallery rows by label (as cpu_loss.c does on the CPU) into the pinned buffer; returns the global
// normaliser weight w (over the B batch rows, the only queries) and the largest class size in the gallery.
static double group_labels(AptLossCudaWorkspace *ws, const AptLossParams *p, const int *labels, int G, int Bq,
                           int *m_out) {
    const int B = G; // the grouping below runs over the whole gallery
    int *perm = ws->grp_host, *grp_of = perm + B, *rank = grp_of + B, *start = rank + B;
    for (int j = 0; j < B; j++) ws->keys[j] = ((uint64_t)((uint32_t)labels[j] ^ 0x80000000u) << 32) | (uint32_t)j;
    qsort(ws->keys, (size_t)B, sizeof(uint64_t), cmp_u64);
    int ng = 0, r = 0;
    for (int k = 0; k < B; k++) {
        int j = (int)(uint32_t)ws->keys[k];
        perm[k] = j;
        if (k == 0 || (ws->keys[k] >> 32) != (ws->keys[k - 1] >> 32)) {
            start[ng++] = k;
            r = 0;
        }
        grp_of[j] = ng - 1;
        rank[j] = r++;
    }
    start[ng] = B;
    long long nvalid = 0;
    int mmax = 0;
    for (int g = 0; g < ng; g++) {
        int npos = start[g + 1] - start[g];
        if (npos > mmax) mmax = npos;
    }
    for (int j = 0; j < Bq; j++) {
        const int g = grp_of[j], npos = start[g + 1] - start[g];
        if (!p->impl->counts || p->impl->counts(p, npos, G)) nvalid++;
    }
    *m_out = mmax;
    return nvalid > 0 ? 1.0 / (double)nvalid : 0.0;
}

void apt_loss_compute_cuda_async(AptLossCudaWorkspace *ws, const AptLossParams *p, const AptLossIn *in,
                                 AptLossOut *out) {
    const int Bq = in->B, D = in->D, B = in->B + in->M; // batch rows (queries); B: gallery rows (batch + memory)
    APT_CHECK(apt_loss_cuda_supports(p), "cuda loss: '%s' has no CUDA implementation", p->impl ? p->impl->name : "?");
    APT_CHECK(in->E && !in->E64 && out->dE && in->labels, "cuda loss: float32 E, dE and labels are required");
    APT_CHECK(Bq > 0 && in->M >= 0 && B <= ws->B_max && D > 0 && D <= ws->D_max,
              "cuda loss: B %d + memory %d rows, D %d exceed workspace (%d, %d)", Bq, in->M, D, ws->B_max, ws->D_max);
    APT_CHECK(0 <= in->q_begin && in->q_begin <= in->q_end && in->q_end <= Bq && in->q_end - in->q_begin <= ws->b_max,
              "cuda loss: query range [%d, %d) of %d (b_max %d)", in->q_begin, in->q_end, Bq, ws->b_max);

    // The pinned label buffers are reused: wait (host) until the previous upload has left them.
    CUDA_CHECK(cudaEventSynchronize(ws->uploaded));
    int mmax = 0;
    const double w = group_labels(ws, p, in->labels, B, Bq, &mmax);
    APT_CHECK(mmax <= ws->m_max, "cuda loss: a class has %d rows in the gallery, workspace m_max is %d", mmax,
              ws->m_max);
    // Packed as [perm B | grp_of B | rank B | start ng+1]; only the used prefix of `start` matters.
    const size_t nints = 3 * (size_t)B + (size_t)B + 1;
    CUDA_CHECK(cudaMemcpyAsync(ws->grp_dev, ws->grp_host, nints * sizeof(int), cudaMemcpyHostToDevice, ws->stream));
    CUDA_CHECK(cudaEventRecord(ws->uploaded, ws->stream));
    const int *perm = ws->grp_dev, *grp_of = perm + B, *rank = grp_of + B, *start = rank + B;

    LossK k;
    k.kind = apt_lp_kind_of(p->impl->id);
    k.variant = p->impl->variant;
    k.self = p->include_self ? 1 : 0;
    k.inv_tau = 1.0 / p->tau;
    k.alpha = p->alpha;
    k.b = p->b;
    k.w = w;
    apt_lp_set_recallk(&k, p, B);

    const float one = 1.0f, zero = 0.0f;
    if (in->q_end == in->q_begin) {
        CUDA_CHECK(cudaMemsetAsync(out->dE, 0, (size_t)Bq * D * sizeof(float), ws->stream));
        CUDA_CHECK(cudaMemsetAsync(ws->loss, 0, sizeof(double), ws->stream));
        return;
    }
    for (int r0 = in->q_begin; r0 < in->q_end; r0 += ws->rows) {
        const int nb = in->q_end - r0 < ws->rows ? in->q_end - r0 : ws->rows;
        const float *Eq = in->E + (size_t)r0 * D;
        const float beta = r0 == in->q_begin ? 0.0f : 1.0f;
        // Row-major X[r, c] is column-major X^T. S^T (B x nb) = E (B x D as D x B col-major)^T · Eq^T.
        CUBLAS_CHECK(cublasSgemm(ws->cublas, CUBLAS_OP_T, CUBLAS_OP_N, B, nb, D, &one, in->E, D, Eq, D, &zero, ws->S,
                                 B));
        dim3 gp((unsigned)mmax, (unsigned)nb);
        pair_sums_kernel<<<gp, APT_LOSS_THREADS, 0, ws->stream>>>(ws->S, B, r0, perm, grp_of, start, k, ws->m_max,
                                                                  ws->pair);
        CUDA_CHECK_LAUNCH();
        query_loss_kernel<<<APT_CEIL_DIV(nb, 256), 256, 0, ws->stream>>>(nb, r0, perm, grp_of, start, k,
                                                                          ws->m_max, ws->pair, ws->loss_q);
        CUDA_CHECK_LAUNCH();
        loss_sum_kernel<<<1, 1024, 0, ws->stream>>>(nb, ws->loss_q, ws->loss, r0 == in->q_begin);
        CUDA_CHECK_LAUNCH();
        dim3 gg((unsigned)APT_CEIL_DIV(B, APT_LOSS_THREADS), (unsigned)nb);
        grad_rows_kernel<<<gg, APT_LOSS_THREADS, 0, ws->stream>>>(ws->S, B, r0, perm, grp_of, rank, start, k,
                                                                  ws->m_max, ws->pair);
        CUDA_CHECK_LAUNCH();
        // dE^T (D x Bq) (beta)= Eq^T (D x nb) · S[:, :Bq]^T : gradient through e_j of the batch rows only (the
        // first Bq rows of the col-major B x nb S, leading dimension B; memory rows are detached).
        CUBLAS_CHECK(cublasSgemm(ws->cublas, CUBLAS_OP_N, CUBLAS_OP_T, D, Bq, nb, &one, Eq, D, ws->S, B, &beta,
                                 out->dE, D));
        // dE[r0:r0+nb]^T (D x nb) += E^T (D x B) · S^T (B x nb) : gradient through e_q.
        CUBLAS_CHECK(cublasSgemm(ws->cublas, CUBLAS_OP_N, CUBLAS_OP_N, D, nb, B, &one, in->E, D, ws->S, B, &one,
                                 out->dE + (size_t)r0 * D, D));
    }
    // out->loss_part is left alone: the loss is on the device (apt_loss_cuda_loss_dev).
}

void apt_loss_compute_cuda(AptLossCudaWorkspace *ws, const AptLossParams *p, const AptLossIn *in,
                           AptLossOut *out) {
    apt_loss_compute_cuda_async(ws, p, in, out);
    CUDA_CHECK(cudaMemcpyAsync(ws->loss_host, ws->loss, sizeof(double), cudaMemcpyDeviceToHost, ws->stream));
    CUDA_CHECK(cudaStreamSynchronize(ws->stream)); // the one host wait: the caller asked for a host scalar
    out->loss_part = *ws->loss_host;
}
