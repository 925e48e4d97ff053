// xbm.c — the cross-batch memory (loss.memory): a ring of N embedding rows after the batch rows of the
// trainer's all-gather buffer, its labels on the host, and the loss call that uses it (xbm.h).
#include "xbm.h"

#include "core/check.h"

#include <stdlib.h>
#include <string.h>

struct AptXbm {
    AptBackend *be;
    float *E;        // [B + N, D] backend memory (the trainer's); ring = E + B * D
    int B, D, N;
    long start;      // first optimizer step that fills and uses the memory
    int count, head; // valid rows ([0, count) of the ring: it fills from 0 and wraps only once full), next row
    int *labels;     // [B + N] host: the batch's labels (per call), then the ring's
    AptCkptMemory stage; // host copy for checkpoints (allocated on first use)
};

AptXbm *apt_xbm_create(AptBackend *be, float *E, int B, int D, int N, long start_step) {
    APT_CHECK(be && E && B > 0 && D > 0 && N > 0 && start_step >= 0, "xbm: B %d D %d N %d start %ld", B, D, N,
              start_step);
    AptXbm *x = apt_calloc(1, sizeof *x);
    x->be = be;
    x->E = E;
    x->B = B;
    x->D = D;
    x->N = N;
    x->start = start_step;
    x->labels = apt_calloc((size_t)B + (size_t)N, sizeof(int));
    return x;
}

void apt_xbm_free(AptXbm *x) {
    if (!x) return;
    free(x->labels);
    free(x->stage.rows);
    free(x->stage.labels);
    free(x);
}

// Rows [src0, src0 + n) of the batch into the ring at head, wrapping: at most two device copies.
static void push(AptXbm *x, const int *labels) {
    const int n = x->B < x->N ? x->B : x->N, src0 = x->B - n; // B > N: the newest N rows
    float *ring = x->E + (size_t)x->B * x->D;
    int *ring_labels = x->labels + x->B;
    for (int done = 0; done < n;) {
        const int len = n - done < x->N - x->head ? n - done : x->N - x->head;
        x->be->copy(x->be, ring + (size_t)x->head * x->D, x->E + (size_t)(src0 + done) * x->D,
                    (size_t)len * x->D * sizeof(float), APT_COPY_D2D);
        memcpy(ring_labels + x->head, labels + src0 + done, (size_t)len * sizeof(int));
        x->head = (x->head + len) % x->N;
        done += len;
    }
    x->count = x->count + n < x->N ? x->count + n : x->N;
}

void apt_xbm_loss_compute(AptXbm *x, AptBackend *be, void *ws, const AptLossParams *p, const float *E,
                          const int *labels, int B, int D, int q_begin, int q_end, float *dE, double *loss_part,
                          long step) {
    if (!x || step < x->start) { // no memory, or still warming up: the plain loss
        be->loss_compute(be, ws, p, E, labels, B, D, q_begin, q_end, dE, loss_part);
        return;
    }
    APT_CHECK(E == x->E && B == x->B && D == x->D, "xbm: loss on another buffer or shape (B %d D %d)", B, D);
    // Gallery = [batch; the memory's valid rows]; queries stay this rank's batch rows, dE stays [B, D].
    memcpy(x->labels, labels, (size_t)B * sizeof(int));
    AptLossParams pm = *p;
    pm.memory_rows = x->count;
    be->loss_compute(be, ws, &pm, E, x->labels, B, D, q_begin, q_end, dE, loss_part);
    // After the loss (device order on the backend's stream): this step's rows join the memory for the next.
    push(x, labels);
}

void apt_xbm_forget(AptXbm *x) {
    if (!x) return;
    x->count = 0;
    x->head = 0;
}

int apt_xbm_count(const AptXbm *x) { return x ? x->count : 0; }
int apt_xbm_capacity(const AptXbm *x) { return x ? x->N : 0; }

static void stage_alloc(AptXbm *x) {
    if (x->stage.rows) return;
    x->stage.N = x->N;
    x->stage.D = x->D;
    x->stage.rows = apt_malloc((size_t)x->N * x->D * sizeof(float));
    x->stage.labels = apt_malloc((size_t)x->N * sizeof(int));
}

const AptCkptMemory *apt_xbm_stage(AptXbm *x) {
    if (!x) return NULL;
    stage_alloc(x);
    // The whole ring, valid or not: rows beyond count are zeros (never written) and restore as zeros.
    x->be->copy(x->be, x->stage.rows, x->E + (size_t)x->B * x->D, (size_t)x->N * x->D * sizeof(float),
                APT_COPY_D2H);
    memcpy(x->stage.labels, x->labels + x->B, (size_t)x->N * sizeof(int));
    x->stage.count = x->count;
    x->stage.head = x->head;
    return &x->stage;
}

int apt_xbm_restore(AptXbm *x, const char *path) {
    if (!x) return 0;
    stage_alloc(x);
    if (!apt_checkpoint_load_memory(path, &x->stage)) {
        apt_xbm_forget(x);
        return 0;
    }
    x->be->copy(x->be, x->E + (size_t)x->B * x->D, x->stage.rows, (size_t)x->N * x->D * sizeof(float),
                APT_COPY_H2D);
    memcpy(x->labels + x->B, x->stage.labels, (size_t)x->N * sizeof(int));
    x->count = (int)x->stage.count;
    x->head = (int)x->stage.head;
    return 1;
}
