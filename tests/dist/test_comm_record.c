// test_comm_record.c — every rank issues the same collectives in the same order (DESIGN §1: a rank that
// issues one more collective, or another count or dtype, hangs or corrupts a multi-node run). Short
// trainings run in this process under mpirun (W = 2 and 4 under ctest, label multinode) with the
// test-only recorder on (APT_COMM_RECORD=DIR: dist/comm_record.c wraps the trainer's host, device and
// gradient-bucket communicators), one directory per config family:
//   frozen  bn frozen, SGD + momentum, gradient clipping
//   sync    bn sync (float64 BN sums through the device communicator), Adam
//   chunk   train.chunk 2 (two-pass step), bn frozen
//   eval    evaluation every 2 steps (distributed embedding extraction + kNN metrics) and at the end
//   resume  checkpoint every step, pre-empted at step 2 (checkpoint + requeue status), resume=auto to 4
//   nanskip lr 1e30 with train.on_nan skip: steps 2.. are not finite and skipped (no update)
//   guard   bn sync on the guard backend: the device communicator stages through host scratch (as a GPU
//           run with dist.backend mpi does), recorded as "device staged" over "host mpi"
// Asserted per family: every rank's log is non-empty and byte-identical to rank 0's (the first differing
// line is printed), and holds the collectives the family must issue.
#include "harness.h"
#include "train/train_fixture.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "dist/comm.h"
#include "train/trainer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = fread(s, 1, (size_t)(n > 0 ? n : 0), f);
    s[got] = 0;
    fclose(f);
    return s;
}

// 0 when equal; else the 1-based number of the first differing line, its text in a and b.
static int first_diff(const char *a, const char *b, char *la, char *lb, size_t cap) {
    int line = 1;
    const char *pa = a, *pb = b;
    while (*pa || *pb) {
        const char *ea = strchr(pa, '\n'), *eb = strchr(pb, '\n');
        size_t na = ea ? (size_t)(ea - pa) : strlen(pa), nb = eb ? (size_t)(eb - pb) : strlen(pb);
        if (na != nb || memcmp(pa, pb, na) != 0 || !*pa != !*pb) {
            snprintf(la, cap, "%.*s", (int)na, *pa ? pa : "(end of log)");
            snprintf(lb, cap, "%.*s", (int)nb, *pb ? pb : "(end of log)");
            if (!*pa) snprintf(la, cap, "(end of log)");
            if (!*pb) snprintf(lb, cap, "(end of log)");
            return line;
        }
        pa += na + (ea ? 1 : 0);
        pb += nb + (eb ? 1 : 0);
        line++;
    }
    return 0;
}

static int count_str(const char *s, const char *sub) {
    int n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub)) n++;
    return n;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

// The shared small run (train_fixture.h), smaller still (4 steps of B 16, width 4, D 8), with several
// gradient buckets and clipping.
static void base_config(AptConfig *cfg, const TrainDirs *d, const char *name) {
    train_config_base(cfg, d, name);
    cfg->seed = 11;
    cfg->model.width = 4;
    cfg->model.embed_dim = 8;
    cfg->data.batch_size = 16;
    cfg->schedule.max_steps = 4;
    cfg->dist.bucket_mb = 0.002; // ~500 floats: several buckets even for this small model
    cfg->optim.clip_grad_norm = 1.0;
}

typedef struct {
    const char *name;
    const char *must[4]; // substrings every log must hold
    int host_max_min;    // at least this many host max-reductions (one per step: the pre-emption vote;
                         // one more per non-finite step: the bad-rank vote of step.c)
} Family;

static int train(const AptConfig *cfg, AptComm *c, bool no_eval, long preempt_at) {
    AptTrainerOptions o = {.quiet = true, .no_eval = no_eval, .preempt_at_step = preempt_at};
    AptTrainer *t = apt_trainer_create(cfg, c, &o);
    int rc = apt_trainer_run(t);
    apt_trainer_destroy(t);
    return rc;
}

static void run_family(const Family *f, AptComm *c, const TrainDirs *d, const char *logs) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", logs, f->name);
    if (c->rank == 0) apt_mkdir_p(dir);
    c->barrier(c);
    setenv("APT_COMM_RECORD", dir, 1);
    AptConfig cfg;
    base_config(&cfg, d, f->name);
    bool no_eval = true;
    if (!strcmp(f->name, "sync") || !strcmp(f->name, "guard")) {
        cfg.model.bn = APT_BN_SYNC;
        cfg.optim.name = APT_OPT_ADAM;
        cfg.optim.lr = 1e-3;
    } else if (!strcmp(f->name, "chunk")) {
        cfg.train.chunk = 2;
    } else if (!strcmp(f->name, "eval")) {
        cfg.eval.every_steps = 2;
        no_eval = false;
    } else if (!strcmp(f->name, "nanskip")) {
        cfg.optim.lr = 1e30;
        cfg.optim.clip_grad_norm = 0;
        cfg.train.on_nan = APT_NAN_SKIP;
        cfg.train.max_nan_skips = 100;
    }
    if (!strcmp(f->name, "guard")) setenv("APT_GUARD_BACKEND", "1", 1);
    if (!strcmp(f->name, "resume")) {
        cfg.checkpoint.every_steps = 1;
        int rc = train(&cfg, c, no_eval, 2);
        TEST_CHECK(rc == APT_EXIT_REQUEUE, "resume: pre-empted run returned %d", rc);
        snprintf(cfg.resume, sizeof cfg.resume, "auto");
    }
    int rc = train(&cfg, c, no_eval, 0);
    TEST_CHECK(rc == 0, "%s: run returned %d", f->name, rc);
    unsetenv("APT_GUARD_BACKEND");
    unsetenv("APT_COMM_RECORD");
    c->barrier(c); // every rank's log is complete (line-buffered, closed with the trainer)
    if (c->rank != 0) return;
    char p[600];
    snprintf(p, sizeof p, "%s/comm.0.log", dir);
    char *ref = slurp(p);
    TEST_CHECK(ref && ref[0], "%s: rank 0's log %s is missing or empty", f->name, p);
    if (!ref) return;
    for (int k = 0; k < 4 && f->must[k]; k++)
        TEST_CHECK(strstr(ref, f->must[k]) != NULL, "%s: no \"%s\" in rank 0's log", f->name, f->must[k]);
    const int nmax = count_str(ref, "host mpi allreduce count=1 dtype=float64 red=max");
    TEST_CHECK(nmax >= f->host_max_min, "%s: %d host max-reductions, want >= %d", f->name, nmax, f->host_max_min);
    int same = 1;
    for (int r = 1; r < c->world; r++) {
        snprintf(p, sizeof p, "%s/comm.%d.log", dir, r);
        char *s = slurp(p);
        TEST_CHECK(s && s[0], "%s: rank %d's log %s is missing or empty", f->name, r, p);
        char la[256], lb[256];
        int d = s ? first_diff(ref, s, la, lb, sizeof la) : -1;
        TEST_CHECK(d == 0, "%s: rank %d's log differs from rank 0's at line %d:\n  rank 0: %s\n  rank %d: %s", f->name,
                   r, d, d > 0 ? la : "", r, d > 0 ? lb : "");
        same &= d == 0;
        free(s);
    }
    printf("W=%d %-8s %5d collectives per rank, logs of all %d ranks identical: %s\n", c->world, f->name,
           count_lines(ref), c->world, same ? "yes" : "NO");
    free(ref);
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    apt_log_init(c->rank, APT_LOG_ERROR, 0);
    apt_h5_init();
    // The comparison itself catches a difference (and its position).
    char la[64], lb[64];
    TEST_CHECK(first_diff("a\nb\n", "a\nb\n", la, lb, sizeof la) == 0, "equal logs reported different");
    TEST_CHECK(first_diff("a\nb\n", "a\nc\n", la, lb, sizeof la) == 2 && !strcmp(lb, "c"), "line 2 not found");
    TEST_CHECK(first_diff("a\nb\n", "a\nb\nc\n", la, lb, sizeof la) == 3, "a longer log not reported");
    if (c->world < 2) {
        printf("test_comm_record: needs mpirun -np 2 or more (skipped)\n");
        apt_comm_finalize(c);
        return 77;
    }
    TrainDirs d;
    train_dirs_make(c, "comm_record", &d, 8, 8, 4, 12, 12, 1);
    char logs[320];
    snprintf(logs, sizeof logs, "%.256s/logs", d.dir);
    const Family fam[] = {
        {"frozen", {"grad mpi iallreduce", "grad mpi wait", "device mpi allgather", "device mpi reduce_scatter"}, 4},
        {"sync", {"device mpi allreduce", "dtype=float64 red=sum", "grad mpi iallreduce", NULL}, 4},
        {"chunk", {"device mpi allgather", "grad mpi iallreduce", NULL, NULL}, 4},
        {"eval", {"host mpi allgather", "grad mpi iallreduce", NULL, NULL}, 4},
        {"resume", {"host mpi barrier", "host mpi bcast", "grad mpi iallreduce", NULL}, 2 + 2},
        {"nanskip", {"grad mpi iallreduce", NULL, NULL, NULL}, 4 + 3}, // steps 2-4 skipped
        {"guard", {"device staged allgather", "device staged allreduce", "grad staged iallreduce", "host mpi iallreduce"}, 4},
    };
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) run_family(&fam[i], c, &d, logs);
    c->barrier(c);
    if (c->rank == 0 && !getenv("APT_TEST_KEEP")) apt_rm_rf(d.dir); // APT_TEST_KEEP=1: keep the logs to read
    int rc = apt_test_finish("test_comm_record");
    apt_comm_finalize(c);
    return rc;
}
