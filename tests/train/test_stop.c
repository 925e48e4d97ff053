// test_stop.c — how a training run stops, on the synthetic dataset, each run in a forked child:
//   NaN:  an absurd learning rate overflows the weights; the run must exit with APT_EXIT_NUMERIC (4) and
//         ONE line naming the step, a rank and its batch's sample ids, the same line in the run's log.txt
//         (the error idiom's path, not a bare fprintf), and leave latest.h5 as the last good checkpoint
//         (its step is before the failing step and it restores cleanly);
//   SIGUSR1 (Slurm pre-emption) sent by the parent while the child trains: exit APT_EXIT_REQUEUE (75) with
//         latest.h5 at the step where it stopped; a resume=auto run then finishes the planned steps.
#include "harness.h"
#include "synth_data.h"
#include "ckpt/checkpoint.h"
#include "core/log.h"
#include "h5/h5check.h"
#include "train/trainer.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void config(AptConfig *cfg, const char *root, const char *out) {
    apt_config_defaults(cfg);
    snprintf(cfg->data.root, sizeof cfg->data.root, "%s", root);
    snprintf(cfg->out_dir, sizeof cfg->out_dir, "%s", out);
    snprintf(cfg->model.arch, sizeof cfg->model.arch, "smallcnn");
    cfg->device = APT_DEVICE_CPU;
    cfg->model.width = 8;
    cfg->model.embed_dim = 16;
    cfg->data.batch_size = 32;
    cfg->data.samples_per_class = 4;
    cfg->data.threads = 1;
    cfg->eval.every_epochs = 0;
    cfg->checkpoint.every_epochs = 0;
    cfg->logging.every_steps = 1;
}

// Child: train with cfg on one process; exit with the trainer's status. stderr goes to errf.
static int run_child(const AptConfig *cfg, const char *errf, pid_t *pid_out, bool wait_for_it) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(errf, "w", stderr)) _exit(99);
        AptComm *c = apt_comm_create_self();
        apt_log_init(0, APT_LOG_WARN, 0);
        AptTrainerOptions o = {.quiet = true, .no_eval = true};
        AptTrainer *t = apt_trainer_create(cfg, c, &o);
        int rc = apt_trainer_run(t);
        apt_trainer_destroy(t);
        _exit(rc);
    }
    *pid_out = pid;
    if (!wait_for_it) return 0;
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void slurp(const char *path, char *buf, size_t cap) {
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

int main(void) {
    apt_h5_init();
    char dir[128], root[256], out[256], errf[256], latest[512], msg[4096];
    snprintf(dir, sizeof dir, "/tmp/apt_test_stop_%d", (int)getpid());
    snprintf(root, sizeof root, "%s/data", dir);
    snprintf(out, sizeof out, "%s/runs", dir);
    snprintf(errf, sizeof errf, "%s/stderr.txt", dir);
    synth_write_split(root, "train", 8, 16, 28, 28, 1, 1);
    pid_t pid;

    // ---- NaN: SGD with lr 1e30 and a checkpoint after every step
    AptConfig cfg;
    config(&cfg, root, out);
    snprintf(cfg.run_name, sizeof cfg.run_name, "nan");
    cfg.optim.name = APT_OPT_SGD;
    cfg.optim.momentum = 0;
    cfg.optim.lr = 1e30;
    cfg.schedule.max_steps = 50;
    cfg.checkpoint.every_steps = 1;
    int rc = run_child(&cfg, errf, &pid, true);
    slurp(errf, msg, sizeof msg);
    int lines = 0;
    for (char *p = msg; *p; p++) lines += *p == '\n';
    TEST_CHECK(rc == 4, "NaN run exit status %d, want 4 (APT_EXIT_NUMERIC)", rc);
    TEST_CHECK(lines == 1, "NaN run printed %d lines, want 1:\n%s", lines, msg);
    long bad_step = -1;
    const char *s = strstr(msg, "step ");
    TEST_CHECK(s && sscanf(s, "step %ld", &bad_step) == 1 && strstr(msg, "rank "), "message names no step/rank: %s", msg);
    TEST_CHECK(strstr(msg, "'s batch [") && strstr(msg, "train.on_nan abort"),
               "message names no sample ids / policy: %s", msg);
    printf("NaN run: exit %d: %s", rc, msg);
    // The same line (less the program name) is the last line of the run's log.txt.
    char logf[512], logtxt[8192];
    snprintf(logf, sizeof logf, "%s/nan/log.txt", out);
    slurp(logf, logtxt, sizeof logtxt);
    const char *body = strstr(msg, "error: ");
    char *nl = body ? strchr(body, '\n') : NULL;
    if (nl) *nl = 0;
    const char *in_log = body ? strstr(logtxt, body) : NULL;
    TEST_CHECK(body && in_log && in_log[strlen(body)] == '\n' && in_log[strlen(body) + 1] == 0,
               "the NaN stop line is not the last line of %s:\n--- stderr\n%s\n--- log.txt\n%s", logf, msg,
               logtxt);
    if (nl) *nl = '\n';
    snprintf(latest, sizeof latest, "%s/nan/checkpoints/latest.h5", out);
    AptCkptMeta meta = {0};
    TEST_CHECK(apt_checkpoint_peek(latest, &meta) == 0, "no readable latest.h5 after the NaN stop");
    TEST_CHECK(meta.step == bad_step - 1, "latest.h5 is step %ld, want the last good step %ld", meta.step, bad_step - 1);

    // ---- train.on_nan: skip with max_nan_skips 3: the same absurd lr diverges for good, so three steps in a
    // row are not finite (one line each, naming step, rank and the batch's sample ids): two are skipped
    // (warnings), the third stops the run with APT_EXIT_NUMERIC (the error line); all three are in log.txt;
    // latest.h5 is the step before it (skipped steps count as done).
    config(&cfg, root, out);
    snprintf(cfg.run_name, sizeof cfg.run_name, "nanskip");
    cfg.optim.name = APT_OPT_SGD;
    cfg.optim.momentum = 0;
    cfg.optim.lr = 1e30;
    cfg.schedule.max_steps = 50;
    cfg.checkpoint.every_steps = 1;
    cfg.train.on_nan = APT_NAN_SKIP;
    cfg.train.max_nan_skips = 3;
    rc = run_child(&cfg, errf, &pid, true);
    slurp(errf, msg, sizeof msg);
    int skipped = 0, stopping = 0;
    long first_skip = -1;
    for (char *p = strstr(msg, "rank 0's batch ["); p; p = strstr(p + 1, "rank 0's batch [")) {
        const char *line = p;
        while (line > msg && line[-1] != '\n') line--;
        long st = -1;
        if (first_skip < 0 && sscanf(strstr(line, "step "), "step %ld", &st) == 1) first_skip = st;
        skipped += strstr(p, "skipped without an update") && strstr(p, "skipped without an update") < strchr(p, '\n');
        stopping += strstr(p, "; stopping (") && strstr(p, "; stopping (") < strchr(p, '\n');
    }
    printf("NaN skip run: exit %d, %d skipped + %d stopping lines, first at step %ld\n", rc, skipped, stopping, first_skip);
    TEST_CHECK(rc == 4, "on_nan skip: exit %d after max_nan_skips, want 4", rc);
    TEST_CHECK(skipped == 2 && stopping == 1, "on_nan skip: %d skipped + %d stopping lines, want 2 + 1:\n%s", skipped,
               stopping, msg);
    TEST_CHECK(strstr(msg, "batch [") && strstr(msg, "(3 in a row"), "no sample ids / count in:\n%s", msg);
    snprintf(logf, sizeof logf, "%s/nanskip/log.txt", out);
    slurp(logf, logtxt, sizeof logtxt);
    int log_skipped = 0, log_stop = 0;
    for (char *p = strstr(logtxt, "warning: step "); p; p = strstr(p + 1, "warning: step ")) log_skipped++;
    for (char *p = strstr(logtxt, "error: step "); p; p = strstr(p + 1, "error: step ")) log_stop++;
    TEST_CHECK(log_skipped == 2 && log_stop == 1,
               "on_nan skip: log.txt has %d warning + %d error lines, want 2 + 1:\n%s", log_skipped, log_stop,
               logtxt);
    snprintf(latest, sizeof latest, "%s/nanskip/checkpoints/latest.h5", out);
    TEST_CHECK(apt_checkpoint_peek(latest, &meta) == 0 && meta.step == first_skip + 1,
               "on_nan skip: latest.h5 at step %ld, want %ld (the skipped steps before the stop count as done)",
               meta.step, first_skip + 1);

    // ---- SIGUSR1 while training: requeue status and a checkpoint at the stopping step, then resume
    config(&cfg, root, out);
    snprintf(cfg.run_name, sizeof cfg.run_name, "sig");
    cfg.schedule.max_steps = 100000; // far more than the parent waits for
    run_child(&cfg, errf, &pid, false);
    char metrics[512];
    snprintf(metrics, sizeof metrics, "%s/sig/metrics.jsonl", out);
    // The child logs every step only when not quiet; wait for its config.yaml, then a little training.
    char cfgfile[512];
    snprintf(cfgfile, sizeof cfgfile, "%s/sig/config.yaml", out);
    for (int i = 0; i < 300 && !apt_path_exists(cfgfile); i++) usleep(20000);
    usleep(1500000);
    kill(pid, SIGUSR1);
    int st = 0;
    waitpid(pid, &st, 0);
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    TEST_CHECK(rc == 75, "SIGUSR1: exit status %d, want 75 (APT_EXIT_REQUEUE)", rc);
    snprintf(latest, sizeof latest, "%s/sig/checkpoints/latest.h5", out);
    meta.step = -1; // a signal during set-up is honoured at the first step boundary: step 0 is legitimate
    TEST_CHECK(apt_checkpoint_peek(latest, &meta) == 0 && meta.step >= 0, "SIGUSR1: no checkpoint");
    printf("SIGUSR1 after ~1.5 s: exit %d, checkpoint at step %ld\n", rc, meta.step);
    long stopped = meta.step;
    cfg.schedule.max_steps = (int)stopped + 3;
    snprintf(cfg.resume, sizeof cfg.resume, "auto");
    rc = run_child(&cfg, errf, &pid, true);
    TEST_CHECK(rc == 0, "resumed run exit %d", rc);
    TEST_CHECK(apt_checkpoint_peek(latest, &meta) == 0 && meta.step == stopped + 3,
               "resumed run ended at step %ld, want %ld", meta.step, stopped + 3);
    apt_rm_rf(dir);
    return apt_test_finish("test_stop");
}
