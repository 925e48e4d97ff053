// step_timer.c — the per-step phase timer of step_timer.h.
#include "step_timer.h"

#include "core/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_key[APT_PHASE_COUNT] = {
    "t_data_s", "t_forward_s", "t_exchange_s", "t_loss_s", "t_backward_s", "t_allreduce_s", "t_optim_s"};
static const char *const phase_label[APT_PHASE_COUNT] = {"data", "fwd", "xchg", "loss", "bwd", "ar", "opt"};

const char *apt_phase_key(AptPhase p) {
    return p >= 0 && p < APT_PHASE_COUNT ? phase_key[p] : "?";
}
const char *apt_phase_label(AptPhase p) {
    return p >= 0 && p < APT_PHASE_COUNT ? phase_label[p] : "?";
}

void apt_phase_acc_stamps(AptPhaseAcc *a, int n, const double *t, const unsigned char *phase) {
    for (int i = 1; i < n; i++) {
        APT_CHECK(phase[i] < APT_PHASE_COUNT, "stamp %d has phase %d", i, (int)phase[i]);
        const double d = t[i] - t[i - 1];
        if (d > 0) a->sum[phase[i]] += d;
    }
}

void apt_phase_acc_add(AptPhaseAcc *a, AptPhase p, double seconds) {
    APT_CHECK(p >= 0 && p < APT_PHASE_COUNT, "phase %d", (int)p);
    if (seconds > 0) a->sum[p] += seconds;
}

long apt_phase_acc_take(AptPhaseAcc *a, double mean[APT_PHASE_COUNT]) {
    const long n = a->steps;
    for (int p = 0; p < APT_PHASE_COUNT; p++)
        mean[p] = n > 0 ? a->sum[p] / (double)n : 0.0;
    memset(a, 0, sizeof *a);
    return n;
}

int apt_phase_format(char *out, size_t cap, const double mean[APT_PHASE_COUNT], double wall_per_step) {
    if (cap) out[0] = 0;
    if (!(wall_per_step > 0)) return snprintf(out, cap, "?");
    double rest = 1.0;
    size_t k = 0;
    int total = 0;
    for (int p = 0; p <= APT_PHASE_COUNT; p++) {
        const double share = p < APT_PHASE_COUNT ? mean[p] / wall_per_step : (rest > 0 ? rest : 0.0);
        if (p < APT_PHASE_COUNT) rest -= share;
        const int w = snprintf(cap > k ? out + k : NULL, cap > k ? cap - k : 0, "%s%s %.0f%%", p ? " " : "",
                               p < APT_PHASE_COUNT ? phase_label[p] : "other", 100.0 * share);
        total += w;
        k = (size_t)total;
    }
    return total;
}

void apt_step_timer_init(AptStepTimer *st, AptBackend *be, int max_stamps) {
    memset(st, 0, sizeof *st);
    st->be = be;
    for (int i = 0; i < 3; i++) {
        be->timer_create(be, max_stamps, &st->set[i]);
        st->ph[i] = apt_calloc((size_t)max_stamps, 1);
    }
}

void apt_step_timer_free(AptStepTimer *st) {
    if (!st->be) return;
    for (int i = 0; i < 3; i++) {
        st->be->timer_free(st->be, &st->set[i]);
        free(st->ph[i]);
    }
    memset(st, 0, sizeof *st);
}

// Reads set i's pending stamps into the accumulator (waits on a device until the last one is passed).
static void collect(AptStepTimer *st, int i) {
    if (st->used[i] == 0) return;
    st->be->timer_read(st->be, &st->set[i], st->used[i]);
    apt_phase_acc_stamps(&st->acc, st->used[i], st->set[i].s, st->ph[i]);
    st->used[i] = 0;
}

void apt_step_timer_begin(AptStepTimer *st) {
    const int cur = (int)(st->begun % 3);
    // Step k - 2's stamps: step k - 1's blocking scalar read came after all of them on the compute stream.
    collect(st, (int)((st->begun + 1) % 3));
    collect(st, cur); // step k - 3's: read at step k - 1's begin already (kept for safety, costs nothing)
    st->begun++;
    st->be->timer_record(st->be, &st->set[cur], 0);
    st->used[cur] = 1;
}

void apt_step_timer_mark(AptStepTimer *st, AptPhase p) {
    const int cur = (int)((st->begun - 1) % 3);
    AptTimerSet *s = &st->set[cur];
    APT_CHECK(st->begun > 0 && st->used[cur] > 0, "step timer: mark outside a step");
    APT_CHECK(st->used[cur] < s->n, "step timer: more than %d stamps in one step", s->n);
    st->ph[cur][st->used[cur]] = (unsigned char)p;
    st->be->timer_record(st->be, s, st->used[cur]);
    st->used[cur]++;
}

void apt_step_timer_end(AptStepTimer *st) {
    st->acc.steps++;
}

void apt_step_timer_add(AptStepTimer *st, AptPhase p, double seconds) {
    apt_phase_acc_add(&st->acc, p, seconds);
}

long apt_step_timer_take(AptStepTimer *st, double mean[APT_PHASE_COUNT]) {
    if (st->be)
        for (long k = st->begun - 2; k < st->begun; k++) // oldest first: only the newest may wait
            if (k >= 0) collect(st, (int)(k % 3));
    return apt_phase_acc_take(&st->acc, mean);
}
