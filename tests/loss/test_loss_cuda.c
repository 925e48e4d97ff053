// test_loss_cuda.c — the CUDA ranking losses (smoothap both semantics, pnp-o/ds/dq/iu/ib, recallk) against
// the CPU float32 losses of apt_loss_compute (label gpu). Skips (exit 77) when no CUDA device is usable.
//
// Two kinds of input:
//  * "dyadic": entries k/256 with integer |k| <= 16 and D <= 32, so every similarity s_qj is a multiple of
//    2^-16 below 2^-3 and is computed EXACTLY by any fp32 GEMM in any order. The CPU and the GPU then see
//    identical S; what is left is G in float vs double (relative 1e-7), double sums in another order and
//    the two dE GEMMs (fp32, relative ~1e-6). Bound: loss and dE within 1e-5 relative (dE: atol =
//    1e-5 * max |dE_cpu|, the scale of the gradient, since single entries can cancel to ~0).
//  * "random": L2-normalised Gaussian rows (the training case). S itself now differs by fp32 rounding
//    (~D * 2^-24 at worst), multiplied by 1/tau = 100 in the sigmoid exponent, so G can differ by ~1e-4
//    relative; bound 1e-3 relative (loss) and 1e-3 of max |dE| (dE). The strict check is the dyadic one.
// Also: odd sizes (B not a multiple of any tile), unsorted labels with unequal classes and a singleton,
// partial query ranges (one rank of several), several similarity blocks (rows_max smaller than b), dE
// poisoned with NaN before each call, and bitwise equality of two identical GPU calls (determinism).
// Cross-batch memory (loss.memory): M gallery-only rows after the B batch rows (labels shuffled over all B + M,
// so the memory holds positives of the batch's classes); dE is compared on the B batch rows, and the memory
// rows of dE must stay as poisoned (detached: never written).
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_check.cuh"
#include "dist/comm_nccl.h"
#include "harness.h"
#include "loss/loss.h"
#include "backend/cuda/cuda_loss.h"
#include "backend/backend.h"
#include "loss/simix.h"
#include "loss/loss.h"
#include "loss/loss_pair.h"

// Every loss of loss_names.h with a CUDA path (CUDA column not NONE), plus smoothap with the paper's
// semantics (include_self false).
#define CUDA_CASE_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) {NAME, 1, APT_LP_##CUDA != APT_LP_NONE},
static const struct {
    const char *name;
    int include_self, cuda;
} CASES[] = {APT_LOSS_TABLE(CUDA_CASE_){"smoothap", 0, 1}};
#undef CUDA_CASE_

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static double gauss(uint64_t *s) {
    double u1 = ((double)lcg(s) + 1.0) / 2147483649.0, u2 = (double)lcg(s) / 2147483648.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void make_inputs(float *E, int *labels, int B, int D, int m, int dyadic, uint64_t seed) {
    uint64_t s = seed;
    for (int r = 0; r < B; r++) {
        double nrm = 0;
        for (int d = 0; d < D; d++) {
            float v = dyadic ? (float)((int)(lcg(&s) % 33) - 16) / 256.0f : (float)gauss(&s);
            E[(size_t)r * D + d] = v;
            nrm += (double)v * v;
        }
        if (!dyadic)
            for (int d = 0; d < D; d++)
                E[(size_t)r * D + d] = (float)(E[(size_t)r * D + d] / sqrt(nrm));
    }
    // Classes of m rows, then shuffled; the last class is cut short (unequal sizes, maybe a singleton).
    for (int r = 0; r < B; r++)
        labels[r] = 1000 - 7 * (r / m);
    for (int r = B - 1; r > 0; r--) {
        int j = (int)(lcg(&s) % (uint64_t)(r + 1)), t = labels[r];
        labels[r] = labels[j];
        labels[j] = t;
    }
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

// One comparison: every loss on (E, labels, q range), CPU float32 vs CUDA.
static void run_case(const char *tag, int B, int M, int D, int m, int dyadic, int q0, int q1, int rows_max,
                     double rtol, uint64_t seed) {
    const int G = B + M; // gallery rows: the batch, then M memory rows
    float *E = malloc((size_t)G * D * sizeof *E), *dE_cpu = malloc((size_t)G * D * sizeof(float));
    float *dE_gpu = malloc((size_t)G * D * sizeof(float)), *dE_gpu2 = malloc((size_t)G * D * sizeof(float));
    int *labels = malloc((size_t)G * sizeof *labels);
    make_inputs(E, labels, G, D, m, dyadic, seed);
    float *E_d, *dE_d;
    CUDA_CHECK(cudaMalloc((void **)&E_d, (size_t)G * D * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&dE_d, (size_t)G * D * sizeof(float)));
    CUDA_CHECK(cudaMemcpy(E_d, E, (size_t)G * D * sizeof(float), cudaMemcpyHostToDevice));
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreate(&stream));
    AptLossWorkspace *cws = apt_loss_workspace_create(q1 - q0 > 0 ? q1 - q0 : 1, G, D, APT_F32);
    AptLossCudaWorkspace *gws =
        apt_loss_cuda_workspace_create(q1 - q0 > 0 ? q1 - q0 : 1, G, D, G, rows_max, stream);
    for (int li = 0; li < (int)(sizeof CASES / sizeof CASES[0]); li++) {
        AptLossParams p;
        const char *name = CASES[li].name;
        TEST_CHECK(apt_loss_params_default(&p, name), "loss %s known", name);
        p.include_self = CASES[li].include_self;
        TEST_CHECK(apt_loss_cuda_supports(&p) == CASES[li].cuda, "%s: CUDA support %d, loss_names.h says %d",
                   name, apt_loss_cuda_supports(&p), CASES[li].cuda);
        if (!CASES[li].cuda) continue;
        char label[160];
        snprintf(label, sizeof label, "%s %s%s B%d+M%d D%d q[%d,%d) rows%d", tag, name,
                 p.include_self ? "" : "(exclude-self)", B, M, D, q0, q1, rows_max);
        AptLossIn in = {.E = E, .labels = labels, .B = B, .D = D, .q_begin = q0, .q_end = q1, .M = M};
        AptLossOut oc = {.dE = dE_cpu};
        apt_loss_compute(cws, &p, &in, &oc);

        AptLossIn ig = in;
        ig.E = E_d;
        double loss_g[2];
        float *outs[2] = {dE_gpu, dE_gpu2};
        for (int rep = 0; rep < 2; rep++) {
            // NaN poison: every entry must be written. On the loss's stream, so it lands before the kernels.
            CUDA_CHECK(cudaMemsetAsync(dE_d, 0xff, (size_t)G * D * sizeof(float), stream));
            AptLossOut og = {.dE = dE_d};
            apt_loss_compute_cuda(gws, &p, &ig, &og);
            loss_g[rep] = og.loss_part;
            CUDA_CHECK(cudaMemcpy(outs[rep], dE_d, (size_t)G * D * sizeof(float), cudaMemcpyDeviceToHost));
        }
        double ref = oc.loss_part;
        double lerr = fabs(loss_g[0] - ref) / (fabs(ref) > 1e-30 ? fabs(ref) : 1.0);
        TEST_CHECK(lerr <= rtol, "%s: loss gpu %.17g cpu %.17g rel err %.3g > %g", label, loss_g[0], ref,
                   lerr, rtol);
        printf("     %s: loss %.10g rel err %.3g\n", label, ref, lerr);
        double scale = max_abs(dE_cpu, (size_t)B * D);
        char l2[200];
        snprintf(l2, sizeof l2, "%s dE", label);
        expect_close_f(dE_gpu, dE_cpu, (size_t)B * D, rtol, rtol * (scale > 0 ? scale : 1.0), l2);
        TEST_CHECK(memcmp(&loss_g[0], &loss_g[1], sizeof(double)) == 0 &&
                       memcmp(dE_gpu, dE_gpu2, (size_t)B * D * sizeof(float)) == 0,
                   "%s: two identical calls differ (not deterministic)", label);
        int written = 0; // memory rows of dE: detached, so still the NaN poison
        for (size_t i = (size_t)B * D; i < (size_t)G * D; i++)
            written += dE_gpu[i] == dE_gpu[i];
        TEST_CHECK(written == 0, "%s: %d dE entries of memory rows written", label, written);
    }
    apt_loss_cuda_workspace_free(gws);
    apt_loss_workspace_free(cws);
    CUDA_CHECK(cudaStreamDestroy(stream));
    CUDA_CHECK(cudaFree(E_d));
    CUDA_CHECK(cudaFree(dE_d));
    free(E);
    free(dE_cpu);
    free(dE_gpu);
    free(dE_gpu2);
    free(labels);
}

// SiMix (loss.simix, src/loss/simix.h) through the op tables: mix_rows, recallk on the extended gallery with k
// clipped to the real batch (recallk_k_rows), mix_rows_backward; the cuda table vs the cpu table, rank `rank`
// of W (its partial dE, folded), normalised random rows: the "random" bound above (1e-3).
static void simix_case(int C, int m, int D, int W, int rank) {
    const int B = C * m, V = apt_simix_rows(B, m);
    float *E = malloc(sizeof(float) * B * D), *g[2];
    int *labels = malloc(sizeof(int) * B);
    make_inputs(E, labels, B, D, m, 0, 99);
    AptLossParams p;
    apt_loss_params_default(&p, "recallk");
    p.recallk_k[4] = 4.0 * B; // above the real B: clipped to B, not to B + V
    double loss[2];
    AptBackend *bes[2] = {apt_backend_create("cpu"), apt_backend_create("cuda")};
    for (int k = 0; k < 2; k++) {
        AptBackend *be = bes[k];
        void *ws = NULL;
        be->loss_create(be, &p, apt_simix_b_max(B, W, V), B + V, D, m + apt_simix_pair_count(m), &ws);
        AptSimix *sx = apt_simix_create(be, B, W, D, V);
        float *dE_d = be->alloc(be, sizeof(float) * B * D), *E_d = be->alloc(be, sizeof(float) * B * D);
        double *l_d = be->alloc(be, sizeof(double));
        be->copy(be, E_d, E, sizeof(float) * B * D, APT_COPY_H2D);
        apt_simix_loss_compute(sx, ws, &p, E_d, labels, rank, 5, 1, 2, dE_d, l_d);
        g[k] = malloc(sizeof(float) * B * D);
        be->copy(be, g[k], dE_d, sizeof(float) * B * D, APT_COPY_D2H);
        be->copy(be, &loss[k], l_d, sizeof(double), APT_COPY_D2H);
        be->sync(be);
        apt_simix_free(sx);
        be->loss_free(be, ws);
        be->free(be, dE_d), be->free(be, E_d), be->free(be, l_d);
    }
    char what[96];
    snprintf(what, sizeof what, "simix C=%d m=%d W=%d rank %d loss", C, m, W, rank);
    expect_close_d(&loss[1], &loss[0], 1, 1e-3, 0, what);
    snprintf(what, sizeof what, "simix C=%d m=%d W=%d rank %d dE", C, m, W, rank);
    expect_close_f(g[1], g[0], (size_t)B * D, 1e-3, 1e-3 * max_abs(g[0], (size_t)B * D), what);
    apt_backend_destroy(bes[0]), apt_backend_destroy(bes[1]);
    free(E), free(labels), free(g[0]), free(g[1]);
}

int main(void) {
    if (apt_cuda_device_count() == 0) {
        printf("SKIP: no CUDA device (test_loss_cuda needs one; nothing was checked)\n");
        return 77;
    }
    // Strict: exact similarities.
    run_case("dyadic", 37, 0, 24, 4, 1, 0, 37, 0, 1e-5, 1);     // whole batch, one block, classes 4,4,..,1
    run_case("dyadic", 37, 0, 24, 4, 1, 9, 28, 0, 1e-5, 2);     // one rank's query range
    run_case("dyadic", 301, 0, 32, 4, 1, 0, 301, 64, 1e-5, 3);  // five similarity blocks
    run_case("dyadic", 130, 0, 17, 13, 1, 3, 130, 50, 1e-5, 4); // bigger classes, partial range, blocks
    run_case("dyadic", 1031, 0, 32, 4, 1, 0, 1031, 0, 1e-5, 5); // more rows than one block of threads
    // Training-like: normalised rows; looser bound explained at the top.
    run_case("random", 257, 0, 64, 4, 0, 0, 257, 100, 1e-3, 6);
    run_case("random", 512, 0, 128, 8, 0, 128, 256, 0, 1e-3, 7);
    // Cross-batch memory: a gallery larger than the query set (B batch rows + M memory rows).
    run_case("dyadic+memory", 37, 74, 24, 4, 1, 0, 37, 0, 1e-5, 8);     // memory 2B, one block
    run_case("dyadic+memory", 37, 74, 24, 4, 1, 9, 28, 0, 1e-5, 9);     // one rank's query range
    run_case("dyadic+memory", 130, 301, 17, 13, 1, 3, 130, 50, 1e-5, 10); // blocks, memory not a multiple of B
    run_case("random+memory", 256, 1024, 64, 4, 0, 64, 128, 0, 1e-3, 11);
    simix_case(64, 4, 64, 1, 0); // B 256 + V 384, one process
    simix_case(64, 4, 64, 2, 1); // rank 1 of 2: its real rows and its share of the virtual ones
    simix_case(30, 6, 32, 4, 2); // m 6: 15 virtual rows per class
    return apt_test_finish("test_loss_cuda");
}
