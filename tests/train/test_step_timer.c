// test_step_timer.c — the per-step phase timer (src/train/step_timer.h):
//   accumulator: hand-computed stamp sequences -> per-phase sums and means per step, negative spans
//                dropped, take resets;
//   format:      the progress-line split for hand-picked means (exact strings), "other" never negative,
//                truncation safe;
//   rotation:    on a recording fake backend, step k's begin reads step k - 2's stamps and nothing newer
//                (so a device backend never waits inside a step), take reads the two pending steps
//                oldest first, and every stamp is read exactly once;
//   cpu, guard:  the real timer ops: slept spans land in their phases (at least the time slept) and the
//                phases never add up to more than the wall time around the step (exact property of a
//                synchronous backend's clock stamps).
#include "backend/backend.h"
#include "core/timer.h"
#include "harness.h"
#include "train/step_timer.h"

#include <string.h>
#include <unistd.h>

// ---- a fake backend whose timer ops log what they are asked (no clock: stamp i of step k is 10 k + i)
typedef struct {
    long step;          // the step the test is in (set by the test before each call)
    int reads;          // timer_read calls
    long read_step[64]; // the step during which each read happened
    const AptTimerSet *read_set[64];
    int read_n[64];
    double clock; // logical time, advanced by the test
} FakeLog;
static FakeLog fake;

static void fake_create(AptBackend *be, int n, AptTimerSet *ts) {
    (void)be;
    ts->n = n;
    ts->s = calloc((size_t)n, sizeof *ts->s);
    ts->impl = calloc((size_t)n, sizeof(double));
}
static void fake_free(AptBackend *be, AptTimerSet *ts) {
    (void)be;
    free(ts->s), free(ts->impl);
}
static void fake_record(AptBackend *be, AptTimerSet *ts, int i) {
    (void)be;
    ((double *)ts->impl)[i] = fake.clock;
}
static void fake_read(AptBackend *be, AptTimerSet *ts, int n) {
    (void)be;
    if (fake.reads < 64) {
        fake.read_step[fake.reads] = fake.step;
        fake.read_set[fake.reads] = ts;
        fake.read_n[fake.reads] = n;
    }
    fake.reads++;
    for (int i = 0; i < n; i++)
        ts->s[i] = ((double *)ts->impl)[i] - ((double *)ts->impl)[0];
}

// One step of the fake: 1 s of forward, 2 s of backward, 0.5 s of optimizer (logical time).
static void fake_step(AptStepTimer *st) {
    apt_step_timer_begin(st);
    fake.clock += 1.0;
    apt_step_timer_mark(st, APT_PHASE_FORWARD);
    fake.clock += 2.0;
    apt_step_timer_mark(st, APT_PHASE_BACKWARD);
    fake.clock += 0.5;
    apt_step_timer_mark(st, APT_PHASE_OPTIM);
    apt_step_timer_end(st);
    fake.clock += 100.0; // between steps: not in any phase
}

static void test_accumulator(void) {
    AptPhaseAcc a = {0};
    // Stamps at 10, 10.5, 12, 11.9 (clock noise: dropped), 13; phases data, fwd, bwd, opt.
    const double t[5] = {10.0, 10.5, 12.0, 11.9, 13.0};
    const unsigned char ph[5] = {0, APT_PHASE_DATA, APT_PHASE_FORWARD, APT_PHASE_BACKWARD, APT_PHASE_OPTIM};
    apt_phase_acc_stamps(&a, 5, t, ph);
    a.steps++;
    apt_phase_acc_stamps(&a, 5, t, ph);
    apt_phase_acc_add(&a, APT_PHASE_DATA, 0.25);
    apt_phase_acc_add(&a, APT_PHASE_LOSS, -1.0); // negative host time: ignored
    a.steps++;
    double m[APT_PHASE_COUNT];
    long n = apt_phase_acc_take(&a, m);
    TEST_CHECK(n == 2, "steps %ld", n);
    // data: 2 x 0.5 + 0.25 = 1.25 -> 0.625 per step; forward 1.5; backward 0 (negative span); optim
    // 13 - 11.9 = 1.1 per step. All exact in binary? 0.625 and 1.5 are; 1.1 to 1 ulp.
    TEST_CHECK(m[APT_PHASE_DATA] == 0.625 && m[APT_PHASE_FORWARD] == 1.5 && m[APT_PHASE_BACKWARD] == 0 &&
                   fabs(m[APT_PHASE_OPTIM] - 1.1) < 1e-12 && m[APT_PHASE_LOSS] == 0 &&
                   m[APT_PHASE_EXCHANGE] == 0 && m[APT_PHASE_ALLREDUCE] == 0,
               "means data %g fwd %g bwd %g opt %g loss %g", m[0], m[1], m[4], m[6], m[3]);
    n = apt_phase_acc_take(&a, m);
    TEST_CHECK(n == 0 && m[APT_PHASE_FORWARD] == 0, "take did not reset (%ld steps, fwd %g)", n, m[1]);
    TEST_CHECK(!strcmp(apt_phase_key(APT_PHASE_DATA), "t_data_s") &&
                   !strcmp(apt_phase_key(APT_PHASE_OPTIM), "t_optim_s") &&
                   !strcmp(apt_phase_label(APT_PHASE_ALLREDUCE), "ar") &&
                   !strcmp(apt_phase_label(APT_PHASE_EXCHANGE), "xchg"),
               "keys / labels");
    for (int p = 0; p < APT_PHASE_COUNT; p++) {
        const char *k = apt_phase_key((AptPhase)p);
        TEST_CHECK(!strncmp(k, "t_", 2) && !strcmp(k + strlen(k) - 2, "_s"), "key %s: timing keys end in _s",
                   k);
    }
}

static void test_format(void) {
    char out[160];
    // Shares of 0.2 s per step: 3%, 30%, 2%, 5%, 50%, 4%, 6% -> other 0%.
    const double m[APT_PHASE_COUNT] = {0.006, 0.06, 0.004, 0.01, 0.1, 0.008, 0.012};
    int w = apt_phase_format(out, sizeof out, m, 0.2);
    const char *want = "data 3% fwd 30% xchg 2% loss 5% bwd 50% ar 4% opt 6% other 0%";
    TEST_CHECK(!strcmp(out, want) && w == (int)strlen(want), "format: '%s' (%d)", out, w);
    // Half the wall time in the phases: the rest is other.
    const double h[APT_PHASE_COUNT] = {0, 0.25, 0, 0, 0.25, 0, 0};
    apt_phase_format(out, sizeof out, h, 1.0);
    TEST_CHECK(!strcmp(out, "data 0% fwd 25% xchg 0% loss 0% bwd 25% ar 0% opt 0% other 50%"), "format: '%s'",
               out);
    // Phases above the wall time (a rounding of the interval): other clamps at 0, never negative.
    const double o[APT_PHASE_COUNT] = {0, 0.6, 0, 0, 0.6, 0, 0};
    apt_phase_format(out, sizeof out, o, 1.0);
    TEST_CHECK(strstr(out, "other 0%") && !strstr(out, "-"), "format over 100%%: '%s'", out);
    // Truncation: a short buffer holds a terminated prefix; the return value is the full length.
    char small[12];
    w = apt_phase_format(small, sizeof small, m, 0.2);
    TEST_CHECK(w == (int)strlen(want) && strlen(small) == sizeof small - 1 &&
                   !strncmp(small, want, sizeof small - 1),
               "truncated: '%s' (%d)", small, w);
    apt_phase_format(out, sizeof out, m, 0.0);
    TEST_CHECK(!strcmp(out, "?"), "no wall time: '%s'", out);
}

static void test_rotation(void) {
    AptBackend be = {0};
    be.timer_create = fake_create, be.timer_free = fake_free, be.timer_record = fake_record,
    be.timer_read = fake_read;
    memset(&fake, 0, sizeof fake);
    AptStepTimer st;
    apt_step_timer_init(&st, &be, 8);
    // Steps 0..4, take after step 4 (a logging step).
    for (long k = 0; k < 5; k++) {
        fake.step = k;
        int before = fake.reads;
        fake_step(&st);
        // Step k's begin read exactly step k - 2's set (none for k < 2): never the previous step's.
        TEST_CHECK(fake.reads - before == (k >= 2), "step %ld: %d reads inside the step", k,
                   fake.reads - before);
        if (k >= 2 && fake.reads > before)
            TEST_CHECK(fake.read_set[before] == &st.set[(k - 2) % 3] && fake.read_n[before] == 4,
                       "step %ld read the wrong set (or %d stamps)", k, fake.read_n[before]);
    }
    fake.step = 100; // logging time
    int before = fake.reads;
    double m[APT_PHASE_COUNT];
    long n = apt_step_timer_take(&st, m);
    TEST_CHECK(fake.reads - before == 2 && fake.read_set[before] == &st.set[3 % 3] &&
                   fake.read_set[before + 1] == &st.set[4 % 3],
               "take: %d reads (want steps 3 then 4)", fake.reads - before);
    TEST_CHECK(n == 5 && m[APT_PHASE_FORWARD] == 1.0 && m[APT_PHASE_BACKWARD] == 2.0 &&
                   m[APT_PHASE_OPTIM] == 0.5 && m[APT_PHASE_DATA] == 0,
               "means over 5 steps: n %ld fwd %g bwd %g opt %g data %g", n, m[1], m[4], m[6], m[0]);
    // Next interval, 1 step: its own stamps only (every stamp read once), then nothing left.
    fake.step = 5;
    fake_step(&st);
    apt_step_timer_add(&st, APT_PHASE_DATA, 0.125);
    n = apt_step_timer_take(&st, m);
    TEST_CHECK(n == 1 && m[APT_PHASE_FORWARD] == 1.0 && m[APT_PHASE_DATA] == 0.125,
               "1-step interval: n %ld fwd %g data %g", n, m[1], m[0]);
    before = fake.reads;
    n = apt_step_timer_take(&st, m);
    TEST_CHECK(n == 0 && fake.reads == before && m[APT_PHASE_FORWARD] == 0, "empty take: n %ld, %d reads", n,
               fake.reads - before);
    apt_step_timer_free(&st);
}

// The real timer ops of a synchronous backend: slept spans are measured, phases fit in the wall time.
static void test_backend(AptBackend *be) {
    AptStepTimer st;
    apt_step_timer_init(&st, be, 16);
    const int steps = 3;
    double wall = 0;
    for (int k = 0; k < steps; k++) {
        double t0 = apt_time_now();
        apt_step_timer_begin(&st);
        usleep(2000);
        apt_step_timer_mark(&st, APT_PHASE_FORWARD);
        usleep(1000);
        apt_step_timer_mark(&st, APT_PHASE_EXCHANGE);
        usleep(4000);
        apt_step_timer_mark(&st, APT_PHASE_BACKWARD);
        apt_step_timer_end(&st);
        wall += apt_time_now() - t0;
    }
    double m[APT_PHASE_COUNT], sum = 0;
    long n = apt_step_timer_take(&st, m);
    for (int p = 0; p < APT_PHASE_COUNT; p++)
        sum += m[p];
    printf("%s: per step fwd %.6f xchg %.6f bwd %.6f s (slept 0.002 / 0.001 / 0.004); phases %.6f of wall "
           "%.6f s\n",
           be->name, m[APT_PHASE_FORWARD], m[APT_PHASE_EXCHANGE], m[APT_PHASE_BACKWARD], sum, wall / steps);
    TEST_CHECK(n == steps, "%s: %ld steps", be->name, n);
    TEST_CHECK(m[APT_PHASE_FORWARD] >= 0.002 && m[APT_PHASE_EXCHANGE] >= 0.001 &&
                   m[APT_PHASE_BACKWARD] >= 0.004,
               "%s: a phase shorter than the time slept in it", be->name);
    TEST_CHECK(m[APT_PHASE_DATA] == 0 && m[APT_PHASE_LOSS] == 0 && m[APT_PHASE_OPTIM] == 0,
               "%s: time in unmarked phases", be->name);
    // Stamps lie inside [t0, end]: the phases cannot exceed the wall time (1 ns for float rounding).
    TEST_CHECK(sum * steps <= wall + 1e-9, "%s: phases %.9f s exceed the wall time %.9f s", be->name,
               sum * steps, wall);
    apt_step_timer_free(&st);
}

int main(void) {
    test_accumulator();
    test_format();
    test_rotation();
    AptBackend *cpu = apt_backend_cpu_create();
    test_backend(cpu);
    apt_backend_destroy(cpu);
    AptBackend *guard = apt_backend_guard_create(); // the timer ops through the guard's wrappers
    test_backend(guard);
    apt_backend_destroy(guard);
    return apt_test_finish("test_step_timer");
}
