// cpu_loss.c — the ranking losses on the CPU (DESIGN §3): the driver shared by every loss, float32 (the
// CPU table's loss op, at the end of this file) and float64 (`aptrain loss`, references).
//
// For a block of at most `rows` local queries [r0, r0 + nb):
//   S[nb, B]  = E[r0:r0+nb] E^T                    (GEMM)
//   per query: row function -> d loss / d S[q, .]  (OpenMP over queries, float64 arithmetic)
//   dE        = (dE +) S^T E[r0:r0+nb]             (GEMM: gradient through e_j of s_qj)
//   dE[r0:..] += S E                               (GEMM: gradient through e_q of s_qj)
// S is overwritten in place by its gradient, so the workspace holds one block of similarity rows.
// One process with the whole batch in one block: S by syrk (mirrored), then dE = (G + G^T) E.
// Cross-batch memory (in->M rows after the B batch rows): the gallery is all B + M rows, so S is
// [nb, B + M] and dE[r0:..] += S E runs over all of them, but the gradient through e_j is formed for
// the B batch rows only (the memory is detached: S[:, :B]^T E_q), and the normaliser counts batch rows.
// Per-query losses go to an array summed in query order afterwards: the result does not depend on
// the OpenMP thread count.
#include "cpu_loss.h"
#include "cpu_ops.h"

#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/timer.h"

// Similarity block: at least 512 rows (efficient GEMMs), more while the block stays under 64M
// elements (256 MB in float32), so a one-process batch up to B = 8192 is a single block and takes
// the symmetric path below.
#define APT_LOSS_BLOCK_ROWS 512
#define APT_LOSS_BLOCK_ELEMS (64ll << 20)
#define APT_LOSS_SCRATCH 4 // B_max-length double rows per thread

struct AptLossWorkspace {
    int b_max, B_max, D_max, rows, rows_alloc, nthreads;
    double t_gemm, t_rows; // seconds spent in the last call (benchmarks)
    AptDType dtype;
    void *S;         // [rows, B_max] float or double: similarity rows, then their gradient in place
    double *scratch; // [nthreads][APT_LOSS_SCRATCH][B_max]: s, gs, tmp, same of one query
    double *loss_q;  // [rows] per-query loss, summed in order after the parallel loop
    uint64_t *keys;  // [B_max] (label, row) sort keys
    int *perm;       // [B_max] rows sorted by (label, row)
    int *grp_start;  // [B_max + 1] start of each class in perm
    int *grp_of;     // [B_max] class of each row
};

AptLossWorkspace *apt_loss_workspace_create(int b_max, int B_max, int D_max, AptDType dtype) {
    APT_CHECK(b_max > 0 && B_max >= b_max && D_max > 0, "loss workspace: b_max %d B_max %d D_max %d", b_max,
              B_max, D_max);
    APT_CHECK(dtype == APT_F32 || dtype == APT_F64, "loss workspace: dtype %s", apt_dtype_name(dtype));
    AptLossWorkspace *ws = apt_calloc(1, sizeof *ws);
    ws->b_max = b_max;
    ws->B_max = B_max;
    ws->D_max = D_max;
    ws->dtype = dtype;
    long long rows = APT_LOSS_BLOCK_ELEMS / B_max;
    if (rows < APT_LOSS_BLOCK_ROWS) rows = APT_LOSS_BLOCK_ROWS;
    ws->rows = ws->rows_alloc = b_max < rows ? b_max : (int)rows;
    ws->nthreads = omp_get_max_threads();
    ws->S = apt_aligned_alloc((size_t)ws->rows * (size_t)B_max * apt_dtype_size(dtype));
    ws->scratch = apt_aligned_alloc((size_t)ws->nthreads * APT_LOSS_SCRATCH * (size_t)B_max * sizeof(double));
    ws->loss_q = apt_malloc((size_t)ws->rows * sizeof(double));
    ws->keys = apt_malloc((size_t)B_max * sizeof(uint64_t));
    ws->perm = apt_malloc((size_t)B_max * sizeof(int));
    ws->grp_start = apt_malloc(((size_t)B_max + 1) * sizeof(int));
    ws->grp_of = apt_malloc((size_t)B_max * sizeof(int));
    return ws;
}

void apt_loss_workspace_free(AptLossWorkspace *ws) {
    if (!ws) return;
    free(ws->S);
    free(ws->scratch);
    free(ws->loss_q);
    free(ws->keys);
    free(ws->perm);
    free(ws->grp_start);
    free(ws->grp_of);
    free(ws);
}

size_t apt_loss_workspace_bytes(const AptLossWorkspace *ws) {
    return (size_t)ws->rows_alloc * (size_t)ws->B_max * apt_dtype_size(ws->dtype) +
           (size_t)ws->nthreads * APT_LOSS_SCRATCH * (size_t)ws->B_max * sizeof(double) +
           (size_t)ws->rows_alloc * sizeof(double) +
           (size_t)ws->B_max * (sizeof(uint64_t) + 3 * sizeof(int)) + sizeof(int);
}

void apt_loss_workspace_set_block_rows(AptLossWorkspace *ws, int rows) {
    APT_CHECK(rows >= 1 && rows <= ws->rows_alloc, "loss workspace: block rows %d not in [1, %d]", rows,
              ws->rows_alloc);
    ws->rows = rows;
}

void apt_loss_workspace_timing(const AptLossWorkspace *ws, double *gemm_s, double *rows_s) {
    *gemm_s = ws->t_gemm;
    *rows_s = ws->t_rows;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

// Group rows by label without assuming sorted batches: sort (label, row) keys; the rows of each
// class end up contiguous in perm, in ascending row order. Returns the number of classes.
static int group_labels(AptLossWorkspace *ws, const int *labels, int B) {
    for (int j = 0; j < B; j++)
        ws->keys[j] = ((uint64_t)((uint32_t)labels[j] ^ 0x80000000u) << 32) | (uint32_t)j;
    qsort(ws->keys, (size_t)B, sizeof(uint64_t), cmp_u64);
    int ng = 0;
    for (int k = 0; k < B; k++) {
        int j = (int)(uint32_t)ws->keys[k];
        ws->perm[k] = j;
        if (k == 0 || (ws->keys[k] >> 32) != (ws->keys[k - 1] >> 32)) ws->grp_start[ng++] = k;
        ws->grp_of[j] = ng - 1;
    }
    ws->grp_start[ng] = B;
    return ng;
}

// S [B, B] in place: mirror the upper triangle into the lower (add = 0, after syrk), or replace S by
// S + S^T (add = 1). Tile pairs (bi, bj), bi <= bj, of 32 x 32: the lower tile is copied row by row
// into a small local buffer before the transposed access, because with a power-of-two B the rows of a
// tile are 4 KB apart and thrash one cache set if read column-wise (a 64 x 64 in-place version took
// ~9 ns per element at B = 4096). Each tile pair belongs to one thread: thread-count independent.
#define APT_SYM_TILE 32
#define APT_DEFINE_SYM(NAME, T)                                                                              \
    static void NAME(T *S, int B, int add) {                                                                 \
        const int nt = (B + APT_SYM_TILE - 1) / APT_SYM_TILE;                                                \
        _Pragma("omp parallel for schedule(dynamic, 1) if (B > 1024)") for (int bi = 0; bi < nt; bi++) {     \
            T lo[APT_SYM_TILE][APT_SYM_TILE]; /* lo[jj][ii] = S[j][i] */                                     \
            const int i0 = bi * APT_SYM_TILE, ni = B - i0 < APT_SYM_TILE ? B - i0 : APT_SYM_TILE;            \
            for (int bj = bi; bj < nt; bj++) {                                                               \
                const int j0 = bj * APT_SYM_TILE, nj = B - j0 < APT_SYM_TILE ? B - j0 : APT_SYM_TILE;        \
                for (int jj = 0; jj < nj; jj++)                                                              \
                    memcpy(lo[jj], S + (size_t)(j0 + jj) * B + i0, (size_t)ni * sizeof(T));                  \
                for (int ii = 0; ii < ni; ii++) {                                                            \
                    T *up = S + (size_t)(i0 + ii) * B + j0;                                                  \
                    int jstart = bj == bi ? ii : 0; /* diagonal tile: upper half incl. the diagonal */       \
                    for (int jj = jstart; jj < nj; jj++) {                                                   \
                        T v = add ? up[jj] + lo[jj][ii] : up[jj];                                            \
                        up[jj] = v;                                                                          \
                        lo[jj][ii] = v;                                                                      \
                    }                                                                                        \
                }                                                                                            \
                for (int jj = 0; jj < nj; jj++) /* write the lower tile back (diagonal tile: lower half) */  \
                    memcpy(S + (size_t)(j0 + jj) * B + i0, lo[jj],                                           \
                           (size_t)(bj != bi ? ni : jj + 1) * sizeof(T));                                    \
            }                                                                                                \
        }                                                                                                    \
    }
APT_DEFINE_SYM(sym_f32, float)
APT_DEFINE_SYM(sym_f64, double)

// One block of queries [r0, r0 + nb): gradient of the similarity rows in place, per-query losses.
static void block_rows(AptLossWorkspace *ws, const AptLossParams *p, const AptLossIn *in, int r0, int nb,
                       double w) {
    const int B = in->B + in->M; // gallery rows: the row functions see batch and memory alike
    const bool f64 = ws->dtype == APT_F64;
    int nt = omp_get_max_threads();
    if (nt > ws->nthreads) nt = ws->nthreads;
        // Blocks under 2^20 similarities stay on one thread: waking the team costs more than it saves,
        // and its threads keep spinning after the region (libgomp's default wait policy) while the next
        // sgemm's OpenBLAS threads need the same cores — measured at B = 384 on 2 cores: 15 ms with a
        // team, 4 ms without. The partition is fixed either way, so the result is the same.
#pragma omp parallel for schedule(static) num_threads(nt) if ((long long)nb * B > (1ll << 20))
    for (int t = 0; t < nb; t++) {
        double *s = ws->scratch + (size_t)omp_get_thread_num() * APT_LOSS_SCRATCH * (size_t)ws->B_max;
        double *gs = s + ws->B_max, *tmp = gs + ws->B_max, *same = tmp + ws->B_max;
        if (f64) {
            memcpy(s, (double *)ws->S + (size_t)t * B, (size_t)B * sizeof(double));
        } else {
            const float *Sf = (float *)ws->S + (size_t)t * B;
            for (int j = 0; j < B; j++)
                s[j] = Sf[j];
        }
        memset(gs, 0, (size_t)B * sizeof(double));
        int q = r0 + t, g = ws->grp_of[q], lq = in->labels[q];
        for (int j = 0; j < B; j++)
            same[j] = in->labels[j] == lq ? 1.0 : 0.0;
        AptLossRow row = {.s = s,
                          .gs = gs,
                          .tmp = tmp,
                          .same = same,
                          .labels = in->labels,
                          .pos = ws->perm + ws->grp_start[g],
                          .npos = ws->grp_start[g + 1] - ws->grp_start[g],
                          .B = B,
                          .q = q,
                          .w = w};
        ws->loss_q[t] = p->impl->row(p, &row);
        if (f64) {
            memcpy((double *)ws->S + (size_t)t * B, gs, (size_t)B * sizeof(double));
        } else {
            float *Sf = (float *)ws->S + (size_t)t * B;
            for (int j = 0; j < B; j++)
                Sf[j] = (float)gs[j];
        }
    }
}

void apt_loss_compute(AptLossWorkspace *ws, const AptLossParams *p, const AptLossIn *in, AptLossOut *out) {
    const int B = in->B, D = in->D, G = in->B + in->M; // batch rows, gallery rows (batch + memory)
    const bool f64 = ws->dtype == APT_F64;
    APT_CHECK(p->impl && p->impl->row, "loss: params without a loss implementation");
    APT_CHECK(B > 0 && in->M >= 0 && G <= ws->B_max && D > 0 && D <= ws->D_max,
              "loss: B %d + memory %d rows, D %d exceed workspace (%d, %d)", B, in->M, D, ws->B_max, ws->D_max);
    APT_CHECK(0 <= in->q_begin && in->q_begin <= in->q_end && in->q_end <= B,
              "loss: query range [%d, %d) of %d", in->q_begin, in->q_end, B);
    APT_CHECK(f64 ? (in->E64 && out->dE64) : (in->E && out->dE), "loss: inputs do not match the %s workspace",
              apt_dtype_name(ws->dtype));
    APT_CHECK(in->labels, "loss: labels missing");

    // Global normaliser from the labels every rank holds: the same on every rank. Classes are grouped
    // over the whole gallery (a query's positives include memory rows), but only batch rows are queries.
    group_labels(ws, in->labels, G);
    long long nvalid = 0;
    for (int j = 0; j < B; j++) {
        const int g = ws->grp_of[j], npos = ws->grp_start[g + 1] - ws->grp_start[g];
        if (!p->impl->counts || p->impl->counts(p, npos, G)) nvalid++;
    }
    const double w = nvalid > 0 ? 1.0 / (double)nvalid : 0.0;

    double loss = 0.0;
    if (in->q_end == in->q_begin) {
        if (f64)
            memset(out->dE64, 0, (size_t)B * D * sizeof(double));
        else
            memset(out->dE, 0, (size_t)B * D * sizeof(float));
    }
    // One process, whole batch in one block: S = E E^T is symmetric (syrk: half the flops) and
    // dE = G^T E + G E = (G + G^T) E is one GEMM: 3 B^2 D flops instead of 6 B^2 D.
    const double t0 = apt_time_now();
    ws->t_rows = 0.0;
    const bool whole = in->q_begin == 0 && in->q_end == B && B <= ws->rows && in->M == 0;
    if (whole) {
        if (f64) {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, B, D, 1.0, in->E64, D, 0.0, ws->S, B);
            sym_f64(ws->S, B, 0);
            ws->t_rows -= apt_time_now();
            block_rows(ws, p, in, 0, B, w);
            ws->t_rows += apt_time_now();
            sym_f64(ws->S, B, 1);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, B, 1.0, ws->S, B, in->E64, D, 0.0,
                        out->dE64, D);
        } else {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, B, D, 1.0f, in->E, D, 0.0f, ws->S, B);
            sym_f32(ws->S, B, 0);
            ws->t_rows -= apt_time_now();
            block_rows(ws, p, in, 0, B, w);
            ws->t_rows += apt_time_now();
            sym_f32(ws->S, B, 1);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, B, 1.0f, ws->S, B, in->E, D, 0.0f,
                        out->dE, D);
        }
        for (int t = 0; t < B; t++)
            loss += ws->loss_q[t];
    }
    for (int r0 = in->q_begin; !whole && r0 < in->q_end; r0 += ws->rows) {
        int nb = in->q_end - r0 < ws->rows ? in->q_end - r0 : ws->rows;
        double beta = r0 == in->q_begin ? 0.0 : 1.0;
        if (f64) {
            const double *E = in->E64;
            double *S = ws->S, *dE = out->dE64;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, G, D, 1.0, E + (size_t)r0 * D, D, E, D,
                        0.0, S, G);
            ws->t_rows -= apt_time_now();
            block_rows(ws, p, in, r0, nb, w);
            ws->t_rows += apt_time_now();
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, B, D, nb, 1.0, S, G, E + (size_t)r0 * D, D,
                        beta, dE, D);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, D, G, 1.0, S, G, E, D, 1.0,
                        dE + (size_t)r0 * D, D);
        } else {
            const float *E = in->E;
            float *S = ws->S, *dE = out->dE;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, G, D, 1.0f, E + (size_t)r0 * D, D, E, D,
                        0.0f, S, G);
            ws->t_rows -= apt_time_now();
            block_rows(ws, p, in, r0, nb, w);
            ws->t_rows += apt_time_now();
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, B, D, nb, 1.0f, S, G, E + (size_t)r0 * D, D,
                        (float)beta, dE, D);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, D, G, 1.0f, S, G, E, D, 1.0f,
                        dE + (size_t)r0 * D, D);
        }
        for (int t = 0; t < nb; t++)
            loss += ws->loss_q[t];
    }
    out->loss_part = loss;
    ws->t_gemm = apt_time_now() - t0 - ws->t_rows; // GEMMs, symmetrisation and label grouping
}

// ---- the op of the CPU table: the float32 path. Every loss of the registry runs here, baselines included.

void apt_cpu_loss_create(AptBackend *be, const struct AptLossParams *p, int b_max, int B_max, int D_max,
                         int m_max, void **ws) {
    (void)be, (void)p, (void)m_max;
    *ws = apt_loss_workspace_create(b_max, B_max, D_max, APT_F32);
}

void apt_cpu_loss_free(AptBackend *be, void *ws) {
    (void)be;
    apt_loss_workspace_free(ws);
}

void apt_cpu_loss_compute(AptBackend *be, void *ws, const struct AptLossParams *p, const float *E,
                          const int *labels, int B, int D, int q_begin, int q_end, float *dE, double *loss_part) {
    (void)be;
    AptLossIn in = {
        .E = E, .labels = labels, .B = B, .D = D, .q_begin = q_begin, .q_end = q_end, .M = p->memory_rows};
    AptLossOut out = {.dE = dE};
    apt_loss_compute(ws, p, &in, &out);
    *loss_part = out.loss_part;
}
