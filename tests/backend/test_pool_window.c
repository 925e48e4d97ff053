// test_pool_window.c — the window arithmetic of the CUDA pooling backward (gather form, no atomics):
// for every input row h, apt_pool_window_range must give exactly the output rows whose window contains
// h, against brute force over every output row, for all k <= 7, stride <= 4, pad <= k/2 (the pooling
// descriptor's limit) and sizes up to 40. Runs on the host; the CUDA kernels call the same function.
#include "backend/cuda/cuda_pool_window.h"
#include "harness.h"

int main(void) {
    long cases = 0, bad = 0;
    for (int k = 1; k <= 7; k++)
        for (int s = 1; s <= 4; s++)
            for (int pad = 0; 2 * pad <= k; pad++)
                for (int H = 1; H <= 40; H++) {
                    const int P = (H + 2 * pad - k) / s + 1;
                    if (H + 2 * pad < k || P <= 0) continue;
                    for (int h = 0; h < H; h++) {
                        int lo, hi, blo = P, bhi = -1;
                        apt_pool_window_range(h, k, s, pad, P, &lo, &hi);
                        for (int p = 0; p < P; p++)
                            if (p * s - pad <= h && h < p * s - pad + k) {
                                if (p < blo) blo = p;
                                bhi = p;
                            }
                        cases++;
                        // Brute force finds a contiguous range [blo, bhi]; empty when bhi < blo.
                        int ok = (bhi < blo) ? (hi < lo) : (lo == blo && hi == bhi);
                        if (!ok && bad++ < 5)
                            fprintf(stderr, "k%d s%d pad%d H%d h%d: got [%d,%d] want [%d,%d]\n", k, s, pad, H, h, lo,
                                    hi, blo, bhi);
                    }
                }
    TEST_CHECK(bad == 0, "%ld of %ld window ranges wrong", bad, cases);
    printf("checked %ld (k, stride, pad, H, h) cases\n", cases);
    return apt_test_finish("test_pool_window");
}
