// profile_backend.c — the per-op profiling wrapper of profile_backend.h, generated from backend.h's op
// lists as the guard backend is (src/backend/guard/guard_backend.c): one wrapper per op that stamps the
// inner backend's timeline before and after the call while a profiled step runs.
//
// Stamps: one timer set per profiled step, created with the real backend's timer ops (apt_backend_base:
// under the guard backend that is the cpu table's host clock, so the guard's mprotect of every region
// around a stamp does not land between the profiler's stamps; the guard's own per-op cost still does,
// inside the op's span). Set i: stamp 0 = step begin, 2k + 1 / 2k + 2 = before / after the step's k-th
// op call, 2 n_calls + 1 = step end. The first marked step counts its op calls; the sets hold that many
// plus a margin (count/4 + 16) and are created after it, so nothing is created or allocated inside a
// profiled call. A step that calls more ops than that stops stamping ops at the limit and is left out
// of the aggregate (the report says so) rather than timed in part.
//
// Work per call (FLOPs or bytes): profile_work.h.
#define _POSIX_C_SOURCE 200809L
#include "profile_backend.h"
#include "profile_work.h"

#include "backend/loss_types.h"
#include "core/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- op indices and names: the two numeric lists, then the step's memory traffic
#define PROF_ENUM(name, params, args) PROF_OP_##name,
enum {
    APT_BACKEND_OPS(PROF_ENUM) APT_BACKEND_TRANSFORMER_OPS(PROF_ENUM) PROF_OP_copy,
    PROF_OP_upload,
    PROF_OP_upload_wait,
    PROF_NOPS
};
#undef PROF_ENUM
#define PROF_NAME(name, params, args) #name,
static const char *const op_name[PROF_NOPS] = {
    APT_BACKEND_OPS(PROF_NAME) APT_BACKEND_TRANSFORMER_OPS(PROF_NAME) "copy", "upload", "upload_wait"};
#undef PROF_NAME

typedef struct {
    int op;
    ProfWork work;
} ProfCall;

enum { PROF_IDLE, PROF_COUNT, PROF_TIMED, PROF_DONE };

typedef struct {
    AptBackend *inner; // the table the ops run on (owned)
    AptBackend *clock; // apt_backend_base(inner): whose timer ops stamp
    int steps;         // steps to profile
    long marked;       // steps begun
    bool in_step;
    int phase;          // of the step in progress (PROF_IDLE outside a step)
    int count;          // op calls of the first step
    int max_calls;      // per profiled step
    AptTimerSet *sets;  // [steps] of 2 + 2 max_calls stamps
    ProfCall *calls;    // [steps][max_calls]
    int *n_calls;       // [steps]
    bool *overflow;     // [steps]
    int done;           // profiled steps finished
    bool collected;
    int kept;           // steps aggregated (overflowed ones left out)
    double step_s;      // mean step time of the kept steps
    double gap_s;       // the largest span between two stamps of consecutive calls (or step begin / end)
    int gap_after, gap_before; // the ops around it (-1: step begin / end)
    double agg_calls[PROF_NOPS], agg_s[PROF_NOPS], agg_flops[PROF_NOPS], agg_bytes[PROF_NOPS];
} ProfImpl;

static ProfImpl *pimpl(AptBackend *be) {
    return (ProfImpl *)be->impl;
}

// The call slot of the step in progress, stamped before the op; -1 when this call is not timed.
static int prof_enter(ProfImpl *p, int op, const ProfWork *w) {
    if (p->phase == PROF_COUNT) p->count++;
    if (p->phase != PROF_TIMED) return -1;
    const int cur = p->done, k = p->n_calls[cur];
    if (k == p->max_calls) {
        p->overflow[cur] = true;
        return -1;
    }
    p->n_calls[cur] = k + 1;
    p->calls[(size_t)cur * p->max_calls + k] = (ProfCall){op, *w};
    p->clock->timer_record(p->clock, &p->sets[cur], 2 * k + 1);
    return k;
}

static void prof_leave(ProfImpl *p, int k) {
    if (k >= 0) p->clock->timer_record(p->clock, &p->sets[p->done], 2 * k + 2);
}

// One wrapper per op: outside a profiled step one branch and the inner call; inside, the work, a stamp,
// the inner call, a stamp.
#define PROF_OP(name, params, args)                                                                          \
    static void prof_##name params {                                                                         \
        ProfImpl *p_ = pimpl(be);                                                                            \
        int k_ = -1;                                                                                         \
        if (p_->phase != PROF_IDLE && p_->phase != PROF_DONE) {                                              \
            ProfWork work_ = {0, 0};                                                                         \
            /* NULL for an op without a work function (weak, undefined); through a variable, as GCC */     \
            /* warns on testing the address of a defined function directly */                              \
            void (*const work_fn_) PROF_PREPEND_PARAM params = apt_profile_work_##name;                      \
            if (work_fn_) work_fn_ PROF_PREPEND_ARG args;                                                    \
            k_ = prof_enter(p_, PROF_OP_##name, &work_);                                                     \
        }                                                                                                    \
        be = p_->inner;                                                                                      \
        be->name args;                                                                                       \
        prof_leave(p_, k_);                                                                                  \
    }
APT_BACKEND_OPS(PROF_OP)
APT_BACKEND_TRANSFORMER_OPS(PROF_OP)
#undef PROF_OP

// Timer ops pass through untimed (the trainer's step timer stamps through this table).
#define PROF_PASS(name, params, args)                                                                        \
    static void prof_##name params {                                                                         \
        be = pimpl(be)->inner;                                                                               \
        be->name args;                                                                                       \
    }
APT_BACKEND_TIMER_OPS(PROF_PASS)
#undef PROF_PASS

// ---- memory: alloc/free/sync pass through; a step's copies and upload are timed rows. Bytes are the
// size of the transfer (one way, the usual memcpy bandwidth), not read + write.
static void *prof_alloc(AptBackend *be, size_t bytes) {
    AptBackend *in = pimpl(be)->inner;
    return in->alloc(in, bytes);
}
static void prof_free(AptBackend *be, void *ptr) {
    AptBackend *in = pimpl(be)->inner;
    in->free(in, ptr);
}
// The step's interruptible host wait (device_wait.c) is not an op: passed through, untimed.
static int prof_poll(AptBackend *be, int start) {
    AptBackend *in = pimpl(be)->inner;
    return in->poll(in, start);
}

static void prof_sync(AptBackend *be) {
    AptBackend *in = pimpl(be)->inner;
    in->sync(in);
}
static void prof_copy(AptBackend *be, void *dst, const void *src, size_t bytes, AptCopyDir dir) {
    ProfImpl *p = pimpl(be);
    const ProfWork w = {0, (double)bytes};
    const int k = p->phase != PROF_IDLE ? prof_enter(p, PROF_OP_copy, &w) : -1;
    p->inner->copy(p->inner, dst, src, bytes, dir);
    prof_leave(p, k);
}
static void prof_upload(AptBackend *be, void *dst, const void *src, size_t bytes) {
    ProfImpl *p = pimpl(be);
    const ProfWork w = {0, (double)bytes};
    const int k = p->phase != PROF_IDLE ? prof_enter(p, PROF_OP_upload, &w) : -1;
    p->inner->upload(p->inner, dst, src, bytes);
    prof_leave(p, k);
}
// cuda: the compute stream's wait for the batch upload (a stall shows here); cpu: nothing.
static void prof_upload_wait(AptBackend *be) {
    ProfImpl *p = pimpl(be);
    const ProfWork w = {0, 0};
    const int k = p->phase != PROF_IDLE ? prof_enter(p, PROF_OP_upload_wait, &w) : -1;
    p->inner->upload_wait(p->inner);
    prof_leave(p, k);
}

// ---- steps
void apt_profile_step_begin(AptBackend *be) {
    ProfImpl *p = pimpl(be);
    APT_CHECK(!p->in_step, "profile: step begun twice");
    p->in_step = true;
    p->marked++;
    if (p->marked == 1) {
        p->phase = PROF_COUNT;
        p->count = 0;
    } else if (p->done < p->steps) {
        p->phase = PROF_TIMED;
        p->n_calls[p->done] = 0;
        p->clock->timer_record(p->clock, &p->sets[p->done], 0);
    } else {
        p->phase = PROF_DONE;
    }
}

void apt_profile_step_end(AptBackend *be) {
    ProfImpl *p = pimpl(be);
    APT_CHECK(p->in_step, "profile: step ended without a begin");
    if (p->phase == PROF_COUNT) { // between steps: the stamps of every profiled step, sized from this one
        p->max_calls = p->count + p->count / 4 + 16;
        p->sets = apt_calloc((size_t)p->steps, sizeof *p->sets);
        for (int i = 0; i < p->steps; i++)
            p->clock->timer_create(p->clock, 2 + 2 * p->max_calls, &p->sets[i]);
        p->calls = apt_calloc((size_t)p->steps * (size_t)p->max_calls, sizeof *p->calls);
    } else if (p->phase == PROF_TIMED) {
        p->clock->timer_record(p->clock, &p->sets[p->done], 2 * p->n_calls[p->done] + 1);
        p->done++;
    }
    p->phase = PROF_IDLE;
    p->in_step = false;
}

int apt_profile_steps_done(AptBackend *be) {
    return pimpl(be)->done;
}

bool apt_profile_complete(AptBackend *be) {
    const ProfImpl *p = pimpl(be);
    return p->done == p->steps;
}

int apt_profile_collect(AptBackend *be, double *step_s) {
    ProfImpl *p = pimpl(be);
    APT_CHECK(!p->in_step, "profile: collect inside a step");
    if (!p->collected) {
        p->collected = true;
        double total = 0;
        for (int i = 0; i < p->done; i++) {
            const int n = 2 * p->n_calls[i] + 2;
            p->clock->timer_read(p->clock, &p->sets[i], n); // oldest first: only the last one may wait
            if (p->overflow[i]) continue;
            const double *s = p->sets[i].s;
            total += s[n - 1];
            for (int k = 0; k <= p->n_calls[i]; k++) { // host time between ops: where is the largest gap?
                const double g = s[2 * k + 1] - s[2 * k];
                if (g <= p->gap_s) continue;
                p->gap_s = g;
                p->gap_after = k ? p->calls[(size_t)i * p->max_calls + k - 1].op : -1;
                p->gap_before = k < p->n_calls[i] ? p->calls[(size_t)i * p->max_calls + k].op : -1;
            }
            for (int k = 0; k < p->n_calls[i]; k++) {
                const ProfCall *c = &p->calls[(size_t)i * p->max_calls + k];
                const double d = s[2 * k + 2] - s[2 * k + 1];
                p->agg_calls[c->op] += 1;
                p->agg_s[c->op] += d > 0 ? d : 0;
                p->agg_flops[c->op] += c->work.flops;
                p->agg_bytes[c->op] += c->work.bytes;
            }
            p->kept++;
        }
        if (p->kept > 0) {
            for (int o = 0; o < PROF_NOPS; o++) {
                p->agg_calls[o] /= p->kept, p->agg_s[o] /= p->kept;
                p->agg_flops[o] /= p->kept, p->agg_bytes[o] /= p->kept;
            }
            p->step_s = total / p->kept;
        }
    }
    if (step_s) *step_s = p->step_s;
    return p->kept;
}

bool apt_profile_row(AptBackend *be, const char *name, AptProfileRow *row) {
    ProfImpl *p = pimpl(be);
    APT_CHECK(p->collected, "profile: row before collect");
    for (int o = 0; o < PROF_NOPS; o++) {
        if (strcmp(op_name[o], name) != 0) continue;
        *row = (AptProfileRow){op_name[o], p->agg_calls[o], p->agg_s[o], p->agg_flops[o], p->agg_bytes[o]};
        return p->agg_calls[o] > 0;
    }
    return false;
}

static int by_time(const void *a, const void *b, void *ctx) {
    const double *t = ctx;
    const int x = *(const int *)a, y = *(const int *)b;
    return t[x] < t[y] ? 1 : t[x] > t[y] ? -1 : x - y;
}

// Insertion sort with a context (qsort_r is not C11): at most PROF_NOPS rows.
static void sort_rows(int *idx, int n, const double *t) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && by_time(&idx[j - 1], &idx[j], (void *)t) > 0; j--) {
            const int s = idx[j];
            idx[j] = idx[j - 1], idx[j - 1] = s;
        }
}

char *apt_profile_format(AptBackend *be, const char *title) {
    ProfImpl *p = pimpl(be);
    double step_s = 0;
    apt_profile_collect(be, &step_s);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    APT_CHECK(f, "profile: open_memstream failed");
    const bool stream = strcmp(p->clock->name, "cuda") == 0;
    fprintf(f, "## Per-op profile: %s\n\n", title ? title : "");
    fprintf(f, "| op | calls/step | ms/step | %% of step | TFLOP/s | GB/s |\n");
    fprintf(f, "|---|---:|---:|---:|---:|---:|\n");
    int idx[PROF_NOPS], n = 0;
    double ops_s = 0;
    for (int o = 0; o < PROF_NOPS; o++)
        if (p->agg_calls[o] > 0) idx[n++] = o, ops_s += p->agg_s[o];
    sort_rows(idx, n, p->agg_s);
    for (int r = 0; r < n; r++) {
        const int o = idx[r];
        const double c = p->agg_calls[o], s = p->agg_s[o];
        char calls[32], tf[32] = "–", gb[32] = "–";
        if (c == (double)(long)c)
            snprintf(calls, sizeof calls, "%ld", (long)c);
        else
            snprintf(calls, sizeof calls, "%.2f", c);
        if (p->agg_flops[o] > 0 && s > 0) snprintf(tf, sizeof tf, "%.4f", p->agg_flops[o] / s * 1e-12);
        if (p->agg_bytes[o] > 0 && s > 0) snprintf(gb, sizeof gb, "%.2f", p->agg_bytes[o] / s * 1e-9);
        fprintf(f, "| %s | %s | %.3f | %.1f | %s | %s |\n", op_name[o], calls, s * 1e3,
                step_s > 0 ? 100 * s / step_s : 0.0, tf, gb);
    }
    fprintf(f, "\nstep: %.3f ms (mean over %d profiled step%s; from the step's begin stamp to its end stamp, %s)\n",
            step_s * 1e3, p->kept, p->kept == 1 ? "" : "s",
            stream ? "CUDA events on the compute stream: stream time" : "host monotonic clock: wall time");
    fprintf(f, "ops: %.3f ms per step; ops cover %.1f%% of the step\n", ops_s * 1e3,
            step_s > 0 ? 100 * ops_s / step_s : 0.0);
    if (p->kept > 0)
        fprintf(f, "largest gap between ops (host work, not an op): %.3f ms, after %s, before %s\n", p->gap_s * 1e3,
                p->gap_after >= 0 ? op_name[p->gap_after] : "the step's begin",
                p->gap_before >= 0 ? op_name[p->gap_before] : "the step's end");
    if (p->kept < p->done)
        fprintf(f, "(%d step%s left out: more op calls than the %d stamped per step, sized from step 1)\n",
                p->done - p->kept, p->done - p->kept == 1 ? "" : "s", p->max_calls);
    APT_CHECK(fclose(f) == 0, "profile: formatting the table failed");
    return text;
}

static void prof_destroy(AptBackend *be) {
    ProfImpl *p = pimpl(be);
    if (p->sets)
        for (int i = 0; i < p->steps; i++)
            p->clock->timer_free(p->clock, &p->sets[i]);
    free(p->sets), free(p->calls), free(p->n_calls), free(p->overflow);
    apt_backend_destroy(p->inner);
    free(p);
    free(be);
}

AptBackend *apt_backend_profile_create(AptBackend *inner, int steps) {
    APT_CHECK(inner && steps > 0, "profile: %d steps over backend %p", steps, (void *)inner);
    APT_CHECK(apt_profile_work_linked, "profile: the work table is missing"); // links profile_work.o
    AptBackend *be = apt_calloc(1, sizeof *be);
    ProfImpl *p = apt_calloc(1, sizeof *p);
    p->inner = inner;
    p->clock = apt_backend_base(inner);
    p->steps = steps;
    p->n_calls = apt_calloc((size_t)steps, sizeof *p->n_calls);
    p->overflow = apt_calloc((size_t)steps, sizeof *p->overflow);
    be->name = inner->name;
    be->act_layout = inner->act_layout;
    be->wrapped = inner;
    be->impl = p;
    be->alloc = prof_alloc;
    be->free = prof_free;
    be->copy = prof_copy;
    be->upload = prof_upload;
    be->upload_wait = prof_upload_wait;
    be->sync = prof_sync;
    be->poll = inner->poll ? prof_poll : NULL;
#define PROF_SET(name, params, args) be->name = prof_##name;
    APT_BACKEND_OPS(PROF_SET)
    APT_BACKEND_TRANSFORMER_OPS(PROF_SET)
    APT_BACKEND_TIMER_OPS(PROF_SET)
#undef PROF_SET
    be->destroy = prof_destroy;
    return be;
}
