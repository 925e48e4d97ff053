// test_xbm_train.c — training with the cross-batch memory (loss.memory, src/train/xbm.c) on the shared small run
// (train_fixture.h: B 32, SGD momentum 0.9), loss.memory 2B = 64 rows, warm-up loss.memory_start_step 1, 8 steps
// (the memory is used from step 1, full after step 2, wrapped three times by the end):
//   exactness:  on W ranks (this mpirun's world) == one process with the same global batch, for smoothap, pnp-dq
//               and recallk: per tensor ||w_W - w_1||_2 <= 1e-5 ||w_1||_2 (float summation order of the
//               exchange and the all-reduce only), and the memory's rows likewise, its labels, count and head
//               exactly;
//   ranks:      every rank holds the same memory, bitwise (it is fed the same all-gathered E);
//   resume:     pre-empted at step 4 and resumed (resume=auto) == the uninterrupted run bitwise: weights,
//               momentum, the memory's rows, labels, count and head;
//   off:        a memory that never starts (loss.memory_start_step beyond the run) is bitwise the run with
//               loss.memory 0 (the larger E buffer and loss workspace change nothing), and a used memory
//               does change the run.
// Runs under ctest with np 1, 2 and 4.
#include "harness.h"
#include "train_fixture.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <string.h>

typedef struct {
    float *w, *m;
    size_t n;
    AptParam *p;
    int np;
    AptCkptMemory mem; // rows/labels copies; N = 0 without a memory
} Snapshot;

static Snapshot snap(AptTrainer *t) {
    AptParamStore *ps = apt_trainer_params(t);
    Snapshot s = {0};
    s.n = ps->numel;
    s.w = malloc(s.n * 4), s.m = malloc(s.n * 4);
    memcpy(s.w, ps->w, s.n * 4);
    memcpy(s.m, ps->m, s.n * 4);
    s.np = ps->n;
    s.p = malloc((size_t)ps->n * sizeof *s.p);
    memcpy(s.p, ps->p, (size_t)ps->n * sizeof *s.p);
    const AptCkptMemory *m = apt_trainer_memory(t);
    if (m) {
        s.mem = *m;
        s.mem.rows = malloc((size_t)m->N * m->D * 4);
        s.mem.labels = malloc((size_t)m->N * sizeof(int));
        memcpy(s.mem.rows, m->rows, (size_t)m->N * m->D * 4);
        memcpy(s.mem.labels, m->labels, (size_t)m->N * sizeof(int));
    }
    return s;
}

static void snap_free(Snapshot *s) { free(s->w), free(s->m), free(s->p), free(s->mem.rows), free(s->mem.labels); }

static Snapshot train(const AptConfig *cfg, AptComm *c, long preempt_at, int *rc) {
    AptTrainerOptions o = {.quiet = true, .no_eval = true, .preempt_at_step = preempt_at};
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    *rc = apt_trainer_run(t);
    Snapshot s = snap(t);
    apt_trainer_destroy(t);
    return s;
}

// Weights per tensor (tol 0: weights and momentum bitwise), then the memory (rows within tol, the rest exact).
static void compare(const Snapshot *a, const Snapshot *b, double tol, const char *what) {
    double worst = 0;
    TEST_CHECK(a->np == b->np && a->n == b->n, "%s: different models", what);
    int bad = a->np == b->np ? train_params_differ(a->p, a->np, a->w, a->m, b->w, b->m, tol, what, &worst) : 1;
    TEST_CHECK(bad == 0, "%s: %d tensors differ (tol %g)", what, bad, tol);
    const AptCkptMemory *x = &a->mem, *y = &b->mem;
    TEST_CHECK(x->N == y->N && x->D == y->D && x->count == y->count && x->head == y->head,
               "%s: memory N %d/%d count %ld/%ld head %ld/%ld", what, x->N, y->N, x->count, y->count, x->head, y->head);
    double rm = 0;
    if (x->N == y->N && x->D == y->D && x->N > 0) {
        TEST_CHECK(!memcmp(x->labels, y->labels, (size_t)x->N * sizeof(int)), "%s: memory labels differ", what);
        if (tol == 0)
            TEST_CHECK(!memcmp(x->rows, y->rows, (size_t)x->N * x->D * 4), "%s: memory rows differ bitwise", what);
        else {
            rm = train_rel(x->rows, y->rows, (size_t)x->N * x->D);
            TEST_CHECK(rm <= tol, "%s: memory rows ||diff||/||rows|| = %.3g > %g", what, rm, tol);
        }
    }
    if (tol > 0)
        printf("%s: worst per-tensor ||diff||/||w|| = %.3g, memory rows %.3g (tol %g)\n", what, worst, rm, tol);
    else
        printf("%s: bitwise identical (weights, momentum, memory of %ld rows): %s\n", what, x->count,
               bad ? "NO" : "yes");
}

// Every rank's memory equals rank 0's, bitwise (collective).
static void same_on_every_rank(AptComm *c, const Snapshot *s, const char *what) {
    const AptCkptMemory *m = &s->mem;
    const size_t nr = (size_t)m->N * m->D;
    float *rows = malloc(nr * 4);
    int *labels = malloc((size_t)m->N * sizeof(int));
    memcpy(rows, m->rows, nr * 4);
    memcpy(labels, m->labels, (size_t)m->N * sizeof(int));
    c->bcast(c, rows, nr, APT_F32, 0);
    c->bcast(c, labels, (size_t)m->N, APT_I32, 0);
    double counters[2] = {(double)m->count, (double)m->head};
    c->bcast(c, counters, 2, APT_F64, 0);
    double diff = memcmp(rows, m->rows, nr * 4) || memcmp(labels, m->labels, (size_t)m->N * sizeof(int)) ||
                  counters[0] != (double)m->count || counters[1] != (double)m->head;
    double ndiff = apt_comm_sum_host(c, diff);
    TEST_CHECK(ndiff == 0, "%s: %g ranks hold another memory than rank 0", what, ndiff);
    if (c->rank == 0)
        printf("%s: memory (%ld of %d rows) bitwise identical on %d ranks: %s\n", what, m->count, m->N, c->world,
               ndiff == 0 ? "yes" : "NO");
    free(rows), free(labels);
}

static void base(AptConfig *cfg, const TrainDirs *d, const char *name, const char *loss) {
    train_config_base(cfg, d, name);
    snprintf(cfg->loss.name, sizeof cfg->loss.name, "%s", loss);
    cfg->loss.memory = 2 * cfg->data.batch_size;
    cfg->loss.memory_start_step = 1;
    cfg->schedule.max_steps = 8;
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_WARN, 0);
    apt_h5_init();
    TrainDirs d;
    train_dirs_make(c, "xbm_train", &d, 8, 16, 8, 28, 28, 1);
    AptComm *self = apt_comm_create_self();
    const char *losses[3] = {"smoothap", "pnp-dq", "recallk"};
    char name[96], what[160];
    int rc;
    for (int li = 0; li < 3; li++) {
        AptConfig cfg;
        snprintf(name, sizeof name, "w%d_%s", c->world, losses[li]);
        base(&cfg, &d, name, losses[li]);
        Snapshot a = train(&cfg, c, 0, &rc);
        TEST_CHECK(rc == 0, "run status %d", rc);
        TEST_CHECK(a.mem.N == 64 && a.mem.count == 64, "%s: memory full after 8 steps (%ld of %d)", losses[li],
                   a.mem.count, a.mem.N);
        snprintf(what, sizeof what, "%s memory 2B: W=%d", losses[li], c->world);
        same_on_every_rank(c, &a, what);
        if (c->rank == 0 && c->world > 1) {
            AptConfig one = cfg;
            snprintf(one.run_name, sizeof one.run_name, "w1ref_%d_%s", c->world, losses[li]);
            Snapshot r = train(&one, self, 0, &rc);
            snprintf(what, sizeof what, "%s memory 2B: W=%d vs W=1 after 8 steps", losses[li], c->world);
            compare(&a, &r, 1e-5, what);
            snap_free(&r);
        }
        if (li == 0) {
            // Resume: pre-empted before step 5 (4 steps done: the memory has wrapped once), resume=auto.
            snprintf(cfg.run_name, sizeof cfg.run_name, "%s_resumed", name);
            Snapshot p = train(&cfg, c, 4, &rc);
            TEST_CHECK(rc == APT_EXIT_REQUEUE, "pre-empted run returned %d, want %d", rc, APT_EXIT_REQUEUE);
            snprintf(cfg.resume, sizeof cfg.resume, "auto");
            Snapshot q = train(&cfg, c, 0, &rc);
            TEST_CHECK(rc == 0, "resumed run status %d", rc);
            snprintf(what, sizeof what, "%s memory 2B: W=%d 4 steps + resume + 4 steps vs 8 steps", losses[li],
                     c->world);
            if (c->rank == 0) compare(&q, &a, 0, what);
            same_on_every_rank(c, &q, what);
            snap_free(&p), snap_free(&q);

            // Off: loss.memory 0, and a memory that never starts: bitwise the same run; the used memory is not.
            AptConfig off = cfg;
            snprintf(off.resume, sizeof off.resume, "never");
            off.loss.memory = 0;
            snprintf(off.run_name, sizeof off.run_name, "%s_off", name);
            Snapshot o = train(&off, c, 0, &rc);
            off.loss.memory = 64;
            off.loss.memory_start_step = 1000;
            snprintf(off.run_name, sizeof off.run_name, "%s_never", name);
            Snapshot n = train(&off, c, 0, &rc);
            if (c->rank == 0) {
                TEST_CHECK(n.mem.count == 0, "a memory that never starts holds %ld rows", n.mem.count);
                n.mem.N = n.mem.D = 0; // compare the weights only
                compare(&n, &o, 0, "loss.memory 64 never started vs loss.memory 0");
                TEST_CHECK(memcmp(a.w, o.w, a.n * 4) != 0, "the memory changes the run");
                printf("memory 2B vs none: worst ||diff||/||w|| of the weights %.3g (the memory matters)\n",
                       train_rel(a.w, o.w, a.n));
            }
            snap_free(&o), snap_free(&n);
        }
        snap_free(&a);
    }
    self->destroy(self);
    train_dirs_remove(c, &d);
    rc = apt_test_finish("test_xbm_train");
    apt_comm_finalize(c);
    return rc;
}
