// knn.c — exact retrieval scoring: blocked sgemm similarities, a streaming top-k per query and the
// rank of every positive in the full ranking (tie rule and determinism: see knn.h).
//
// Per query q the score row s[0, N) is complete in memory (block x N buffer), so:
//   1. the positives' scores are read from the row and sorted into rank order (score desc, index asc);
//   2. one pass over the row (j != q) updates a 65536-bin histogram of scores and, for
//      the few items that fall into a bin holding a positive, an exact comparison with that positive;
//   3. rank(p) = 1 + (items in bins above p's bin) + (items in p's bin that precede p in the order);
//   4. the top-k list: only chunks (KNN_CHUNK items) whose maximum reaches the k-th largest chunk
//      maximum can hold a neighbour, so about k chunks of N / KNN_CHUNK are visited item by item.
// Bins come from floor(s * 32768) (KNN_BINS / 2 = 2^15: bins of width 2^-15 over [-1, 1]; scores outside
// that range are clamped into the end bins): the product by a power of two is exact, so the bin of a
// value is the same wherever it is computed (no FMA contraction can move it), and the map is monotone —
// an item in a higher bin has a strictly higher score. The work per score is O(1) next to the D-long dot
// product.
#include "eval/knn.h"

#include "core/check.h"

#include <cblas.h>
#include <math.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNN_BINS 65536       // histogram bins over [-1, 1]; width 2^-15 (only the used range is touched)
#define KNN_TILE_COLS 4096   // gallery columns per sgemm call (fixed, so scores do not depend on threads)
#define KNN_FLAG 0x80000000u // hist bit marking a bin that holds a positive
#define KNN_CHUNK 256        // gallery items per vectorised step of the row pass

static inline int score_bin(float v) {
    float t = floorf(v * (float)(KNN_BINS / 2)); // exact scaling by 2^15
    // clamp with compares (minss/maxss): fminf/fmaxf would be libm calls; inputs are finite (checked)
    t = t < -(float)(KNN_BINS / 2) ? -(float)(KNN_BINS / 2) : t;
    t = t > (float)(KNN_BINS / 2 - 1) ? (float)(KNN_BINS / 2 - 1) : t;
    return (int)t + KNN_BINS / 2;
}

// bins[i] = max(score_bin(v[i]), bmin - 1) for a chunk (everything below the lowest positive's bin shares
// one bucket, bmin - 1); returns max(v) and sets *any when some bin is >= bmin. The AVX2 path computes
// exactly the same bins (floor of an exact product, the same clamps), so scalar and vector code never
// disagree on a bin.
static float chunk_bins(const float *v, int n, int32_t *bins, int32_t bmin, int *any) {
    float mx = -INFINITY;
    int i = 0, hit = 0;
#ifdef __AVX2__
    const __m256 scale = _mm256_set1_ps((float)(KNN_BINS / 2)), lo = _mm256_set1_ps(-(float)(KNN_BINS / 2)),
                 hi = _mm256_set1_ps((float)(KNN_BINS / 2 - 1));
    const __m256i off = _mm256_set1_epi32(KNN_BINS / 2);
    const __m256i below = _mm256_set1_epi32(bmin - 1);
    __m256i vhit = _mm256_setzero_si256();
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(v + i);
        vmx = _mm256_max_ps(vmx, x);
        __m256 t = _mm256_floor_ps(_mm256_mul_ps(x, scale));
        t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
        __m256i b = _mm256_max_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(t), off), below);
        vhit = _mm256_or_si256(vhit, _mm256_cmpgt_epi32(b, below));
        _mm256_storeu_si256((__m256i *)(bins + i), b);
    }
    hit = !_mm256_testz_si256(vhit, vhit);
    float lanes[8];
    _mm256_storeu_ps(lanes, vmx);
    for (int l = 0; l < 8; l++)
        mx = lanes[l] > mx ? lanes[l] : mx;
#endif
    for (; i < n; i++) {
        int32_t b = score_bin(v[i]);
        bins[i] = b > bmin - 1 ? b : bmin - 1;
        hit |= bins[i] >= bmin;
        mx = v[i] > mx ? v[i] : mx;
    }
    *any = hit;
    return mx;
}

// (s, i) precedes (t, j) in the ranking.
static inline int ranks_before(float s, int64_t i, float t, int64_t j) {
    return s > t || (s == t && i < j);
}

typedef struct {
    int32_t *class_of; // [N] dense class id
    int64_t *start;    // [C + 1] offsets into members
    int64_t *members;  // [N] gallery indices grouped by class, ascending within a class
    int64_t C, max_size;
} ClassIndex;

typedef struct {
    int32_t label;
    int64_t idx;
} LabelIdx;

static int cmp_label_idx(const void *a, const void *b) {
    const LabelIdx *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void class_index_build(ClassIndex *ci, const int32_t *labels, int64_t N) {
    LabelIdx *li = apt_malloc((size_t)N * sizeof *li);
    for (int64_t i = 0; i < N; i++)
        li[i] = (LabelIdx){labels[i], i};
    qsort(li, (size_t)N, sizeof *li, cmp_label_idx);
    ci->class_of = apt_malloc((size_t)N * sizeof *ci->class_of);
    ci->members = apt_malloc((size_t)N * sizeof *ci->members);
    ci->start = apt_malloc((size_t)(N + 1) * sizeof *ci->start);
    int64_t C = 0;
    ci->max_size = 0;
    for (int64_t i = 0; i < N; i++) {
        if (i == 0 || li[i].label != li[i - 1].label) ci->start[C++] = i;
        ci->members[i] = li[i].idx;
        ci->class_of[li[i].idx] = (int32_t)(C - 1);
    }
    ci->start[C] = N;
    ci->C = C;
    for (int64_t c = 0; c < C; c++)
        if (ci->start[c + 1] - ci->start[c] > ci->max_size) ci->max_size = ci->start[c + 1] - ci->start[c];
    free(li);
}

static void class_index_free(ClassIndex *ci) {
    free(ci->class_of);
    free(ci->members);
    free(ci->start);
}

// Per-thread scratch.
typedef struct {
    float *heap_s;      // [k] top-k min-heap on the ranking order: root = the worst kept item
    int64_t *heap_i;    // [k]
    float *pos_s;       // [P] positives' scores, sorted into rank order
    int64_t *pos_i;     // [P]
    int32_t *pos_b;     // [P] their bins (non-increasing)
    int64_t *cnt;       // [P] items in the same bin that precede the positive
    int32_t *bin_first; // [KNN_BINS] first positive in the bin, -1 if none
    uint32_t *hist;     // [-1, KNN_BINS): counts (+ KNN_FLAG); hist[-1] is the "below every positive" bucket.
                        // Zero between queries: each query clears the range it touched.
    int32_t *bins;      // [KNN_CHUNK]
    float *cmax;        // [N / KNN_CHUNK] chunk maxima of the row
    float *ch_s;        // [k] heap of the k largest chunk maxima
    int64_t *ch_i;      // [k]
    char bad[256];      // first failed invariant of this thread's queries ("": none), raised after the team
} Scratch;

// A failed invariant inside the OpenMP team: recorded, not raised there (DESIGN §5: only the main thread
// ends the run; the team's other threads must not call exit()). The first one is kept.
#define KNN_CHECK(w, cond, ...)                                                                              \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            if (!(w)->bad[0]) snprintf((w)->bad, sizeof(w)->bad, __VA_ARGS__);                               \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

// Heap order: a is "worse" than b when b precedes a in the ranking; the root is the worst kept item.
static inline int heap_worse(const float *s, const int64_t *ix, int a, int b) {
    return ranks_before(s[b], ix[b], s[a], ix[a]);
}

// Swap entries a and b of the parallel (score, index) arrays.
static inline void swap_pair(float *s, int64_t *ix, int64_t a, int64_t b) {
    float ts = s[a];
    s[a] = s[b];
    s[b] = ts;
    int64_t ti = ix[a];
    ix[a] = ix[b];
    ix[b] = ti;
}

static void heap_sift_down(float *s, int64_t *ix, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && heap_worse(s, ix, l, w)) w = l;
        if (r < n && heap_worse(s, ix, r, w)) w = r;
        if (w == i) return;
        swap_pair(s, ix, i, w);
        i = w;
    }
}

static void heap_sift_up(float *s, int64_t *ix, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!heap_worse(s, ix, i, p)) return;
        swap_pair(s, ix, i, p);
        i = p;
    }
}

// Sort (s, i) pairs into rank order (insertion sort for short runs, else a simple heap sort on pairs).
static void sort_rank_order(float *s, int64_t *ix, int64_t n) {
    if (n <= 32) {
        for (int64_t a = 1; a < n; a++) {
            float vs = s[a];
            int64_t vi = ix[a];
            int64_t b = a - 1;
            while (b >= 0 && ranks_before(vs, vi, s[b], ix[b])) {
                s[b + 1] = s[b];
                ix[b + 1] = ix[b];
                b--;
            }
            s[b + 1] = vs;
            ix[b + 1] = vi;
        }
        return;
    }
    // heap sort: build a heap whose root is the worst, pop the worst to the end.
    for (int64_t i = 1; i < n; i++)
        heap_sift_up(s, ix, (int)i);
    for (int64_t end = n - 1; end > 0; end--) {
        swap_pair(s, ix, 0, end);
        heap_sift_down(s, ix, (int)end, 0);
    }
    // popping the worst to the back leaves the array best-first.
}

// Score one query from its full row. Writes out->ap[q] etc.
static void score_query(float *row, int64_t q, int64_t N, const ClassIndex *ci, int kk, Scratch *w,
                        AptKnnResult *out) {
    // 1. positives in rank order.
    int32_t c = ci->class_of[q];
    int64_t P = 0;
    for (int64_t m = ci->start[c]; m < ci->start[c + 1]; m++) {
        int64_t j = ci->members[m];
        if (j == q) continue;
        w->pos_s[P] = row[j];
        w->pos_i[P] = j;
        P++;
    }
    sort_rank_order(w->pos_s, w->pos_i, P);
    for (int64_t i = 0; i < P; i++) {
        w->pos_b[i] = score_bin(w->pos_s[i]);
        w->cnt[i] = 0;
        if (i == 0 || w->pos_b[i] != w->pos_b[i - 1]) w->bin_first[w->pos_b[i]] = (int32_t)i;
    }

    // 2. the pass over the gallery, in chunks of KNN_CHUNK: bins and chunk maxima vectorise. Bins below
    //    the lowest positive's bin are never summed in step 3, so items there cost nothing more; the
    //    exact comparisons happen only for items in a bin that holds a positive.
    row[q] = -INFINITY; // self leaves its own gallery: below every real score (bin 0, removed below)
    const int32_t bmin = P ? w->pos_b[P - 1] : KNN_BINS, qbin = score_bin(-INFINITY);
    for (int64_t i = 0; i < P; i++)
        w->hist[w->pos_b[i]] = KNN_FLAG; // bins holding a positive
    const int64_t nchunks = (N + KNN_CHUNK - 1) / KNN_CHUNK;
    int32_t *bins = w->bins;
    for (int64_t cix = 0; cix < nchunks; cix++) {
        const int64_t base = cix * KNN_CHUNK;
        const int n = (int)(N - base < KNN_CHUNK ? N - base : KNN_CHUNK);
        const float *v = row + base;
        int any = 0;
        w->cmax[cix] = chunk_bins(v, n, bins, bmin, &any);
        if (!any) continue;
        for (int i = 0; i < n; i++) {
            // one load-increment-store per item; items below bmin all land in bucket bmin - 1
            const uint32_t h = ++w->hist[bins[i]];
            if (!(h & KNN_FLAG)) continue;
            const int64_t j = base + i;
            if (j == q) continue;
            const int32_t b = bins[i];
            for (int64_t a = w->bin_first[b]; a < P && w->pos_b[a] == b; a++)
                if (j != w->pos_i[a] && ranks_before(v[i], j, w->pos_s[a], w->pos_i[a])) w->cnt[a]++;
        }
    }
    if (qbin >= bmin) w->hist[qbin]--; // (the flag bit is above any count: N < 2^31)

    // 2b. top-k. The kk-th largest chunk maximum t0 bounds the kk-th best score from below (those maxima
    //     are kk distinct gallery items), so only chunks whose maximum reaches t0, and within them only
    //     items scoring >= t0, can enter the list: typically about kk chunks of the N / KNN_CHUNK.
    int nh = 0;
    float *hs = w->heap_s;
    int64_t *hi = w->heap_i;
    float t0 = -INFINITY;
    if (kk > 0 && nchunks >= kk) {
        int nc = 0;
        for (int64_t cix = 0; cix < nchunks; cix++) {
            if (nc < kk) {
                w->ch_s[nc] = w->cmax[cix];
                w->ch_i[nc] = cix;
                heap_sift_up(w->ch_s, w->ch_i, nc++);
            } else if (w->cmax[cix] > w->ch_s[0]) {
                w->ch_s[0] = w->cmax[cix];
                w->ch_i[0] = cix;
                heap_sift_down(w->ch_s, w->ch_i, kk, 0);
            }
        }
        t0 = w->ch_s[0];
    }
    for (int64_t cix = 0; kk > 0 && cix < nchunks; cix++) {
        if (w->cmax[cix] < t0) continue;
        const int64_t base = cix * KNN_CHUNK;
        const int n = (int)(N - base < KNN_CHUNK ? N - base : KNN_CHUNK);
        for (int i = 0; i < n; i++) {
            const float v = row[base + i];
            const int64_t j = base + i;
            if (v < t0 || j == q) continue;
            if (nh < kk) {
                hs[nh] = v;
                hi[nh] = j;
                heap_sift_up(hs, hi, nh++);
            } else if (ranks_before(v, j, hs[0], hi[0])) {
                hs[0] = v;
                hi[0] = j;
                heap_sift_down(hs, hi, kk, 0);
            }
        }
    }
    KNN_CHECK(w, nh == kk, "query %lld: %d neighbours kept, want %d", (long long)q, nh, kk);

    // 3. ranks: walk the bins from the top, positives are in non-increasing bin order.
    double ap = 0, apr = 0;
    int64_t above = 0, prev_rank = 0;
    float rowmax = -INFINITY; // q is -inf: the best gallery score
    for (int64_t cix = 0; cix < nchunks; cix++)
        rowmax = w->cmax[cix] > rowmax ? w->cmax[cix] : rowmax;
    const int32_t top = score_bin(rowmax); // no item, so no count, lies in a higher bin
    int b = top;
    for (int64_t i = 0; i < P; i++) {
        for (; b > w->pos_b[i]; b--)
            above += w->hist[b] & ~KNN_FLAG;
        int64_t rank = 1 + above + w->cnt[i];
        KNN_CHECK(w, rank > prev_rank && rank <= N - 1, "query %lld: positive rank %lld after %lld (N=%lld)",
                  (long long)q, (long long)rank, (long long)prev_rank, (long long)N);
        if (i == 0) out->first_rank[q] = rank;
        double prec = (double)(i + 1) / (double)rank;
        ap += prec;
        if (rank <= P) apr += prec;
        prev_rank = rank;
    }
    for (int64_t i = 0; i < P; i++)
        w->bin_first[w->pos_b[i]] = -1;
    if (P)
        memset(w->hist + bmin - 1, 0, (size_t)(top - bmin + 2) * sizeof *w->hist); // what this query touched
    out->n_pos[q] = P;
    out->ap[q] = P ? ap / (double)P : 0.0;
    out->ap_r[q] = P ? apr / (double)P : 0.0;
    if (!P) out->first_rank[q] = 0;

    // top-k best first; it must agree with the positive ranks (same total order).
    sort_rank_order(hs, hi, nh);
    int64_t first_in_topk = 0;
    for (int i = 0; i < nh && !first_in_topk; i++)
        if (ci->class_of[hi[i]] == c) first_in_topk = i + 1;
    KNN_CHECK(w, first_in_topk == (out->first_rank[q] <= nh ? out->first_rank[q] : 0),
              "query %lld: top-k first positive %lld != rank %lld", (long long)q, (long long)first_in_topk,
              (long long)out->first_rank[q]);
    if (out->topk) memcpy(out->topk + q * (int64_t)out->k, hi, (size_t)nh * sizeof *hi);
}

void apt_knn_result_alloc(AptKnnResult *r, int64_t N, int k, bool keep_topk) {
    memset(r, 0, sizeof *r);
    r->N = N;
    r->k = (int)(k < N - 1 ? k : (N > 0 ? N - 1 : 0));
    size_t n = N > 0 ? (size_t)N : 1;
    r->ap = apt_calloc(n, sizeof *r->ap);
    r->ap_r = apt_calloc(n, sizeof *r->ap_r);
    r->first_rank = apt_calloc(n, sizeof *r->first_rank);
    r->n_pos = apt_calloc(n, sizeof *r->n_pos);
    if (keep_topk) r->topk = apt_calloc(n * (size_t)(r->k > 0 ? r->k : 1), sizeof *r->topk);
}

void apt_knn_result_free(AptKnnResult *r) {
    free(r->ap);
    free(r->ap_r);
    free(r->first_rank);
    free(r->n_pos);
    free(r->topk);
    memset(r, 0, sizeof *r);
}

static int knn_block(const AptKnnParams *p) {
    return p->block > 0 ? p->block : 128;
}

void apt_knn_score_range(const float *E, const int32_t *labels, int64_t N, int D, const AptKnnParams *p,
                         int64_t q_begin, int64_t q_end, AptKnnResult *out) {
    const int64_t QB = knn_block(p);
    APT_CHECK(N >= 2 && N < INT32_MAX && D >= 1, "knn: need 2 <= N < 2^31 and D >= 1 (N=%lld D=%d)",
              (long long)N, D);
    APT_CHECK(q_begin % QB == 0 && 0 <= q_begin && q_begin <= q_end && q_end <= N,
              "knn: query range [%lld, %lld) not block-aligned in [0, %lld)", (long long)q_begin,
              (long long)q_end, (long long)N);
    APT_CHECK(out->N == N, "knn: result sized for %lld, not %lld", (long long)out->N, (long long)N);
    for (int64_t i = 0; i < N * (int64_t)D; i++)
        APT_CHECK(isfinite(E[i]), "knn: embedding %lld has a non-finite component", (long long)(i / D));
    if (q_begin == q_end) return;

    ClassIndex ci;
    class_index_build(&ci, labels, N);
    const int kk = out->k;
    float *S = apt_aligned_alloc((size_t)QB * (size_t)N * sizeof(float));
    const int64_t ntiles = (N + KNN_TILE_COLS - 1) / KNN_TILE_COLS;

    // Every block but the one ending at N lies inside the range (checked here, before the team starts).
    for (int64_t q0 = q_begin; q0 < q_end; q0 += QB)
        APT_CHECK(q0 + QB <= q_end || q_end == N, "knn: range end %lld splits a block", (long long)q_end);
    // Scratch for each thread of the team, allocated here on the calling thread: an allocation failure
    // inside the parallel region would end the process from a team thread.
    const int nt = omp_get_max_threads();
    Scratch *ws = apt_calloc((size_t)nt, sizeof *ws);
    const size_t P = (size_t)(ci.max_size > 0 ? ci.max_size : 1), K1 = (size_t)(kk > 0 ? kk : 1);
    for (int t = 0; t < nt; t++) {
        Scratch *w = &ws[t];
        w->heap_s = apt_malloc(K1 * sizeof(float));
        w->heap_i = apt_malloc(K1 * sizeof(int64_t));
        w->pos_s = apt_malloc(P * sizeof(float));
        w->pos_i = apt_malloc(P * sizeof(int64_t));
        w->pos_b = apt_malloc(P * sizeof(int32_t));
        w->cnt = apt_malloc(P * sizeof(int64_t));
        w->hist = (uint32_t *)apt_calloc(KNN_BINS + 1, sizeof(uint32_t)) + 1;
        w->bins = apt_malloc(KNN_CHUNK * sizeof(int32_t));
        w->cmax = apt_malloc((size_t)(ntiles * KNN_TILE_COLS / KNN_CHUNK + 1) * sizeof(float));
        w->ch_s = apt_malloc(K1 * sizeof(float));
        w->ch_i = apt_malloc(K1 * sizeof(int64_t));
        w->bin_first = apt_malloc(KNN_BINS * sizeof(int32_t));
        for (int b = 0; b < KNN_BINS; b++)
            w->bin_first[b] = -1;
    }

    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1); // one tile = one single-threaded call: scores independent of threads
#pragma omp parallel num_threads(nt)
    {
        Scratch *w = &ws[omp_get_thread_num()];
        for (int64_t q0 = q_begin; q0 < q_end; q0 += QB) {
            const int64_t nq = q0 + QB <= N ? QB : N - q0; // fixed by the global block grid, not by q_end
                                                           // S[i, j] = <E[q0 + i], E[j]>, tile by tile.
#pragma omp for schedule(dynamic, 1)
            for (int64_t t = 0; t < ntiles; t++) {
                int64_t j0 = t * KNN_TILE_COLS, nj = j0 + KNN_TILE_COLS <= N ? KNN_TILE_COLS : N - j0;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nj, D, 1.0f, E + q0 * D, D,
                            E + j0 * D, D, 0.0f, S + j0, (int)N);
            }
            // implicit barrier: the block's rows are complete
#pragma omp for schedule(dynamic, 1)
            for (int64_t i = 0; i < nq; i++)
                score_query(S + i * N, q0 + i, N, &ci, kk, w, out);
        }
    }
    char bad[256] = "";
    for (int t = 0; t < nt; t++) {
        Scratch *w = &ws[t];
        if (!bad[0]) memcpy(bad, w->bad, sizeof bad);
        free(w->heap_s);
        free(w->heap_i);
        free(w->pos_s);
        free(w->pos_i);
        free(w->pos_b);
        free(w->cnt);
        free(w->hist - 1);
        free(w->bins);
        free(w->cmax);
        free(w->ch_s);
        free(w->ch_i);
        free(w->bin_first);
    }
    free(ws);
    if (bad[0]) apt_fatal(__FILE__, __LINE__, "knn: %s", bad); // here, on the calling thread
    openblas_set_num_threads(blas_threads);
    free(S);
    class_index_free(&ci);
}

// Gather per-query arrays: rank r owns [qb[r], qb[r+1]); every rank contributes a padded slice.
static void gather_rows(AptComm *c, void *arr, size_t elem, int64_t row_elems, const int64_t *qb,
                        int64_t pad_rows, AptDType dt) {
    int W = c->world, r = c->rank;
    size_t row_bytes = elem * (size_t)row_elems;
    char *send = apt_calloc((size_t)pad_rows * row_bytes + 1, 1);
    char *recv = apt_calloc((size_t)W * (size_t)pad_rows * row_bytes + 1, 1);
    memcpy(send, (char *)arr + (size_t)qb[r] * row_bytes, (size_t)(qb[r + 1] - qb[r]) * row_bytes);
    c->allgather(c, send, recv, (size_t)(pad_rows * row_elems), dt);
    for (int s = 0; s < W; s++)
        memcpy((char *)arr + (size_t)qb[s] * row_bytes, recv + (size_t)s * (size_t)pad_rows * row_bytes,
               (size_t)(qb[s + 1] - qb[s]) * row_bytes);
    free(send);
    free(recv);
}

void apt_knn_score(AptComm *c, const float *E, const int32_t *labels, int64_t N, int D, const AptKnnParams *p,
                   AptKnnResult *out) {
    const int W = c->world;
    const int64_t QB = knn_block(p), nblocks = (N + QB - 1) / QB;
    // Contiguous whole blocks per rank, in rank order (rank order = query order).
    int64_t *qb = apt_malloc((size_t)(W + 1) * sizeof *qb);
    int64_t pad_rows = 0;
    for (int r = 0; r <= W; r++) {
        int64_t b = nblocks * r / W;
        qb[r] = b * QB < N ? b * QB : N;
    }
    for (int r = 0; r < W; r++)
        if (qb[r + 1] - qb[r] > pad_rows) pad_rows = qb[r + 1] - qb[r];
    apt_knn_score_range(E, labels, N, D, p, qb[c->rank], qb[c->rank + 1], out);
    if (W > 1) {
        gather_rows(c, out->ap, sizeof(double), 1, qb, pad_rows, APT_F64);
        gather_rows(c, out->ap_r, sizeof(double), 1, qb, pad_rows, APT_F64);
        gather_rows(c, out->first_rank, sizeof(int64_t), 1, qb, pad_rows, APT_I64);
        gather_rows(c, out->n_pos, sizeof(int64_t), 1, qb, pad_rows, APT_I64);
        if (out->topk && out->k > 0)
            gather_rows(c, out->topk, sizeof(int64_t), out->k, qb, pad_rows, APT_I64);
    }
    free(qb);
}
