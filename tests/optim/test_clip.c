// test_clip.c — global gradient norm and clipping: a hand-computed 3-4-12-13 case, frozen tensors
// excluded, float64 naive reference on a larger store (1e-12 relative: both sums are float64, only the
// association differs), bitwise repeatability, clipping per torch's clip_grad_norm_.
#include "harness.h"
#include "core/rng.h"
#include "optim/optim.h"

#include <string.h>

int main(void) {
    AptParamStore ps;
    apt_params_init(&ps);
    int s2[1] = {2}, s1[1] = {1};
    int a = apt_params_add(&ps, "a", 1, s2, false);
    int b = apt_params_add(&ps, "b", 1, s1, false);
    int fz = apt_params_add(&ps, "frozen", 1, s1, false);
    apt_params_add(&ps, "bn.running_mean", 1, s1, true);
    ps.p[fz].trainable = false;
    apt_params_finalize(&ps);
    float *ga = apt_params_g(&ps, a), *gb = apt_params_g(&ps, b);
    ga[0] = 3, ga[1] = 4, gb[0] = 12;
    apt_params_g(&ps, fz)[0] = 100; // must not count
    double n = apt_grad_norm(&ps);
    TEST_CHECK(n == 13.0, "norm of (3,4,12) = %.17g, want 13", n);
    double n2 = apt_grad_clip(&ps, 20.0);
    TEST_CHECK(n2 == 13.0 && ga[0] == 3 && ga[1] == 4 && gb[0] == 12, "clip above the norm changed gradients");
    n2 = apt_grad_clip(&ps, 6.5);
    double coef = 6.5 / (13.0 + 1e-6);
    TEST_CHECK(n2 == 13.0, "clip returns the norm before clipping");
    TEST_CHECK(fabs(ga[0] - 3 * coef) < 1e-6 && fabs(ga[1] - 4 * coef) < 1e-6 && fabs(gb[0] - 12 * coef) < 1e-6,
               "clipped gradients (%g %g %g)", ga[0], ga[1], gb[0]);
    TEST_CHECK(apt_params_g(&ps, fz)[0] == 100, "frozen gradient was scaled");
    TEST_CHECK(fabs(apt_grad_norm(&ps) - 6.5) < 1e-5, "norm after clipping %g", apt_grad_norm(&ps));
    apt_params_free(&ps);

    // Larger store: odd sizes (tails of the 8-lane loop), float64 naive reference.
    apt_params_init(&ps);
    int sizes[4] = {1001, 7, 64 * 9, 33333};
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        apt_params_add(&ps, name, 1, &sizes[i], false);
    }
    apt_params_finalize(&ps);
    AptRngStream r = apt_rng_stream(7, APT_RNG_TEST, 0, 0, 0);
    double ref = 0;
    for (int i = 0; i < 4; i++) {
        float *g = apt_params_g(&ps, i);
        for (int k = 0; k < sizes[i]; k++) {
            g[k] = (float)apt_rng_next_normal(&r);
            ref += (double)g[k] * g[k];
        }
    }
    ref = sqrt(ref);
    double got = apt_grad_norm(&ps);
    TEST_CHECK(fabs(got - ref) <= 1e-12 * ref, "norm %.17g vs float64 naive %.17g", got, ref);
    double again = apt_grad_norm(&ps);
    TEST_CHECK(memcmp(&got, &again, sizeof got) == 0, "norm not bitwise repeatable");
    printf("norm %.17g, naive %.17g, rel diff %.3g\n", got, ref, fabs(got - ref) / ref);
    apt_params_free(&ps);
    return apt_test_finish("test_clip");
}
