// test_schedule.c — learning-rate schedules at hand-computed points (exact up to 1e-12 relative: the
// values below are decimal expansions computed by hand, the code does a handful of double operations).
#include "harness.h"
#include "optim/optim.h"

// spe: steps per epoch of this test's run (epoch = step / spe).
static void at(const AptScheduleConfig *s, double base, long step, long spe, long total, double want,
               const char *what) {
    double got = apt_schedule_lr(s, base, step, (int)(step / spe), total);
    TEST_CHECK(fabs(got - want) <= 1e-12 * fabs(want) + 1e-15, "%s step %ld: got %.17g want %.17g", what, step,
               got, want);
}

int main(void) {
    AptScheduleConfig s = {0};
    s.name = APT_SCHED_CONSTANT;
    at(&s, 0.1, 0, 10, 100, 0.1, "constant");
    at(&s, 0.1, 99, 10, 100, 0.1, "constant");

    // iNaturalist official: milestones at epochs 40 and 70, gamma 0.3; 10 steps per epoch.
    s.name = APT_SCHED_STEP;
    s.milestones[0] = 40, s.milestones[1] = 70, s.n_milestones = 2, s.gamma = 0.3;
    at(&s, 1e-5, 0, 10, 900, 1e-5, "step");
    at(&s, 1e-5, 399, 10, 900, 1e-5, "step");
    at(&s, 1e-5, 400, 10, 900, 3e-6, "step");
    at(&s, 1e-5, 699, 10, 900, 3e-6, "step");
    at(&s, 1e-5, 700, 10, 900, 9e-7, "step");
    at(&s, 1e-5, 899, 10, 900, 9e-7, "step");
    s.warmup_steps = 5; // step 2 of 5 warmup steps: 3/5 of the rate
    at(&s, 1e-5, 2, 10, 900, 6e-6, "step+warmup");
    at(&s, 1e-5, 5, 10, 900, 1e-5, "step+warmup");

    // Cosine from 1.0 to 0.1 over steps 10..110 after 10 warmup steps.
    s = (AptScheduleConfig){0};
    s.name = APT_SCHED_COSINE, s.warmup_steps = 10, s.min_lr = 0.1;
    at(&s, 1.0, 0, 10, 110, 0.1, "cosine warmup");
    at(&s, 1.0, 4, 10, 110, 0.5, "cosine warmup");
    at(&s, 1.0, 9, 10, 110, 1.0, "cosine warmup");
    at(&s, 1.0, 10, 10, 110, 1.0, "cosine");
    at(&s, 1.0, 35, 10, 110, 0.1 + 0.9 * 0.853553390593273762, "cosine"); // p = 1/4: (1 + cos(pi/4)) / 2
    at(&s, 1.0, 60, 10, 110, 0.55, "cosine");                             // p = 1/2
    at(&s, 1.0, 85, 10, 110, 0.1 + 0.9 * 0.146446609406726238, "cosine"); // p = 3/4
    at(&s, 1.0, 110, 10, 110, 0.1, "cosine");
    at(&s, 1.0, 500, 10, 110, 0.1, "cosine past the end");
    return apt_test_finish("test_schedule");
}
