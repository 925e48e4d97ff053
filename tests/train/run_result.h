// run_result.h — what the bitwise training-run comparisons (test_guard_train, test_prefetch) keep of a
// finished run, and the comparison itself. Header-only, for tests/train (like synth_data.h).
#pragma once
#include "harness.h"
#include "nn/params.h"
#include "train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    AptParamStore h; // host mirror (w, m, v, buffers)
    double recall[APT_LIST_MAX];
    char *metrics; // metrics.jsonl without timings (rank 0)
} RunResult;

// metrics.jsonl with the timing fields ("images_per_s", "time_s") cut out.
static char *run_read_metrics(const char *out, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s/metrics.jsonl", out, name);
    FILE *f = fopen(p, "rb");
    if (!f) return strdup("");
    char *s = calloc(1, 1 << 20), line[4096];
    size_t k = 0;
    while (fgets(line, sizeof line, f)) {
        char *cut = strstr(line, ",\"images_per_s\"");
        if (cut) strcpy(cut, "}\n");
        size_t n = strlen(line);
        if (k + n < (1 << 20)) memcpy(s + k, line, n), k += n;
    }
    fclose(f);
    return s;
}

// Weights, BN buffers, optimizer state, final Recall@K and metrics.jsonl bitwise; returns the number of
// failed checks.
static int run_compare(const RunResult *a, const RunResult *ref, const char *what) {
    const AptParamStore *x = &a->h, *y = &ref->h;
    int before = apt_test_failures, bad = 0;
    bad += memcmp(x->w, y->w, x->numel * 4) != 0;
    bad += memcmp(x->buffers, y->buffers, x->buffers_numel * 4) != 0;
    bad += (x->m && memcmp(x->m, y->m, x->numel * 4) != 0);
    bad += (x->v && memcmp(x->v, y->v, x->numel * 4) != 0);
    TEST_CHECK(bad == 0, "%s: weights / buffers / optimizer state differ bitwise (%d of 4 buffers)", what, bad);
    TEST_CHECK(!memcmp(a->recall, ref->recall, sizeof a->recall), "%s: final Recall@K differ (%.17g vs %.17g)",
               what, a->recall[0], ref->recall[0]);
    TEST_CHECK(!strcmp(a->metrics, ref->metrics), "%s: metrics.jsonl differ:\n%s---\n%s", what, a->metrics,
               ref->metrics);
    return apt_test_failures - before;
}

static void run_result_free(RunResult *r) {
    apt_params_host_free(&r->h);
    free(r->metrics);
}
