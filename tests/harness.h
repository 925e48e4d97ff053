// harness.h — tiny test helpers: checks that count failures, closeness with stated tolerances.
// A test program returns apt_test_finish(): 0 if every check passed, 1 otherwise; 77 means "skipped".
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int apt_test_failures = 0;
static int apt_test_checks = 0;

#define TEST_CHECK(cond, ...)                                                                                \
    do {                                                                                                     \
        apt_test_checks++;                                                                                   \
        if (!(cond)) {                                                                                       \
            apt_test_failures++;                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                             \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fprintf(stderr, "\n");                                                                           \
        }                                                                                                    \
    } while (0)

// max |a-b| / (atol + rtol*|b|) <= 1 over n elements; prints the first mismatches and the worst error.
static inline int expect_close_d(const double *a, const double *b, size_t n, double rtol, double atol,
                                 const char *label) {
    size_t bad = 0;
    double worst = 0, worst_abs = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        double r = d / (atol + rtol * fabs(b[i]));
        if (!(r <= 1.0)) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: got %.17g want %.17g (|diff| %.3g)\n", label, i, a[i], b[i], d);
            bad++;
        }
        if (d > worst_abs) worst_abs = d;
        if (r > worst || r != r) worst = r;
    }
    apt_test_checks++;
    if (bad) {
        apt_test_failures++;
        fprintf(stderr, "FAIL %s: %zu/%zu outside rtol=%g atol=%g (max |diff| %.3g)\n", label, bad, n, rtol, atol,
                worst_abs);
    } else {
        printf("ok   %s: n=%zu max |diff| %.3g (rtol=%g atol=%g)\n", label, n, worst_abs, rtol, atol);
    }
    return bad == 0;
}

static inline int expect_close_f(const float *a, const float *b, size_t n, double rtol, double atol,
                                 const char *label) {
    double *da = malloc(n * sizeof *da), *db = malloc(n * sizeof *db);
    for (size_t i = 0; i < n; i++) {
        da[i] = a[i];
        db[i] = b[i];
    }
    int ok = expect_close_d(da, db, n, rtol, atol, label);
    free(da);
    free(db);
    return ok;
}

// A program that made no check proves nothing and fails — except on a rank other than 0 of a multi-rank
// test (Open MPI's OMPI_COMM_WORLD_RANK, Slurm's SLURM_PROCID), where rank 0 may hold every check.
static inline int apt_test_finish(const char *name) {
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r) r = getenv("SLURM_PROCID");
    if (apt_test_checks == 0 && (!r || atoi(r) == 0)) {
        fprintf(stderr, "%s: FAILED: the program made no checks\n", name);
        return 1;
    }
    if (apt_test_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, apt_test_failures, apt_test_checks);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, apt_test_checks);
    return 0;
}
