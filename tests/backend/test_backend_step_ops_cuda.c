// test_backend_step_ops_cuda.c — the step-tail ops of the CUDA table (float64 fill, casts, sum of
// squares, finite flag, SGD/Adam/AdamW updates, ranking loss) against the float64 references and hand
// values of step_ops_cases.h, the cases the CPU table passes in test_backend_ops. Label gpu; skips (exit
// 77) where no CUDA device is visible.
#include "backend/backend.h"
#include "harness.h"
#include "step_ops_cases.h"

#include <stdio.h>

int main(void) {
    const char *why = NULL;
    AptBackend *be = apt_backend_cuda_create_on(0, &why);
    if (!be) {
        printf("test_backend_step_ops_cuda: skipped (%s)\n", why ? why : "no CUDA backend");
        return 77;
    }
    check_step_ops(be, false);
    // sum of squares: two calls on the same data give the same bits (fixed chunking, no atomics)
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) x[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
    float *dx = sc_up(be, x, N * sizeof(float));
    double *s = be->alloc(be, 2 * sizeof(double)), hs[2];
    be->sumsq(be, N, dx, s, false);
    be->sumsq(be, N, dx, s + 1, false);
    sc_down(be, hs, s, sizeof hs);
    double ref = 0;
    for (int i = 0; i < N; i++) ref += (double)x[i] * x[i];
    TEST_CHECK(!memcmp(&hs[0], &hs[1], sizeof(double)), "sumsq not repeatable: %.17g vs %.17g", hs[0], hs[1]);
    TEST_CHECK(fabs(hs[0] - ref) <= 1e-12 * ref, "sumsq of 2^20: %.17g vs %.17g", hs[0], ref);
    be->free(be, dx), be->free(be, s);
    free(x);
    apt_backend_destroy(be);
    return apt_test_finish("test_backend_step_ops_cuda");
}
