// test_progress.c — metrics.jsonl content (one parseable JSON object per step/eval line, NaN -> null,
// appended across reopen as after a resume, the per-step phase means written once), the progress line
// format, duration formatting, and the SIGUSR1/SIGTERM flag the trainer polls at step boundaries.
#include "harness.h"
#include "core/fsutil.h"
#include "train/progress.h"
#include "train/signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    // ---- signals
    apt_signals_install();
    TEST_CHECK(apt_signals_pending() == 0, "flag set before any signal");
    raise(SIGUSR1);
    TEST_CHECK(apt_signals_pending() == SIGUSR1, "SIGUSR1 not recorded (%d)", apt_signals_pending());
    apt_signals_clear();
    raise(SIGTERM);
    raise(SIGTERM); // a repeated signal must not kill the process (batch scripts forward more than once)
    TEST_CHECK(apt_signals_pending() == SIGTERM, "SIGTERM not recorded (%d)", apt_signals_pending());
    apt_signals_clear();

    // ---- durations
    char b[32];
    apt_format_duration(b, sizeof b, 37.2);
    TEST_CHECK(!strcmp(b, "37s"), "37.2 s -> %s", b);
    apt_format_duration(b, sizeof b, 312);
    TEST_CHECK(!strcmp(b, "5m12s"), "312 s -> %s", b);
    apt_format_duration(b, sizeof b, 3720);
    TEST_CHECK(!strcmp(b, "1h02m"), "3720 s -> %s", b);

    // ---- metrics.jsonl
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "/tmp/apt_test_progress_%d", (int)getpid());
    apt_mkdir_p(dir);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    AptProgress p;
    apt_progress_open(&p, dir, 0, 100, 0);
    usleep(20000);
    apt_progress_time(&p, 0.002, 0.015);
    apt_progress_time(&p, 0.0005, 0.001);
    // Phase means (step_timer.h) for this interval: written after other_s, shown on the progress line.
    const double phase[APT_PHASE_COUNT] = {0.0001, 0.0005, 0.00025, 0.000125, 0.0006, 0.0002, 0.0001};
    apt_progress_phases(&p, phase);
    apt_progress_step(&p, 0, 10, 0.5, 1e-3, 640, true);
    const char *names[2] = {"recall@1", "map"};
    double vals[2] = {0.75, 0.5};
    apt_progress_eval(&p, 0, 10, 2, names, vals);
    apt_progress_close(&p);
    apt_progress_open(&p, dir, 0, 100, 10); // resume appends
    apt_progress_step(&p, 1, 20, 0.0 / 0.0, 5e-4, 640, false);
    apt_progress_close(&p);
    AptProgress other; // rank 1: inert, writes nothing
    apt_progress_open(&other, dir, 1, 100, 0);
    apt_progress_step(&other, 0, 10, 1.0, 1.0, 1, true);
    apt_progress_close(&other);

    FILE *f = fopen(path, "r");
    char line[3][512];
    int n = 0;
    while (n < 3 && fgets(line[n], sizeof line[n], f)) n++;
    char extra[8];
    TEST_CHECK(n == 3 && !fgets(extra, sizeof extra, f), "want exactly 3 lines");
    fclose(f);
    if (n == 3) {
        printf("%s%s%s", line[0], line[1], line[2]);
        TEST_CHECK(strstr(line[0], "{\"type\":\"train\",\"epoch\":0,\"step\":10,\"loss\":0.5,\"lr\":0.001,") == line[0],
                   "train line: %s", line[0]);
        double ips = 0;
        const char *q = strstr(line[0], "\"images_per_s\":");
        TEST_CHECK(q && sscanf(q + 15, "%lf", &ips) == 1 && ips > 0 && ips < 640 / 0.02 + 1, "images_per_s %g", ips);
        // The time split: sums of the apt_progress_time calls; other_s = the rest of the >= 20 ms interval.
        double other = -1;
        const char *o = strstr(line[0], "\"other_s\":");
        TEST_CHECK(strstr(line[0], "\"data_s\":0.0025,\"step_s\":0.016,\"other_s\":") && o &&
                       sscanf(o + 10, "%lf", &other) == 1 && other >= 0.0015,
                   "time split: %s", line[0]);
        TEST_CHECK(strstr(line[0], ",\"t_data_s\":0.0001,\"t_forward_s\":0.0005,\"t_exchange_s\":0.00025,"
                          "\"t_loss_s\":0.000125,\"t_backward_s\":0.0006,\"t_allreduce_s\":0.0002,\"t_optim_s\":0.0001,"
                          "\"time_s\":") != NULL,
                   "phase fields: %s", line[0]);
        // Given once: the next interval (no apt_progress_phases call) has none.
        TEST_CHECK(!strstr(line[2], "t_data_s"), "phase fields repeated: %s", line[2]);
        TEST_CHECK(!strcmp(line[1], "{\"type\":\"eval\",\"epoch\":0,\"step\":10,\"recall@1\":0.75,\"map\":0.5}\n"),
                   "eval line: %s", line[1]);
        TEST_CHECK(strstr(line[2], "\"loss\":null") != NULL, "NaN loss must be null: %s", line[2]);
    }
    // Independent JSON parser when available.
    const char *py = getenv("APT_PYTHON");
    if (py && access(py, X_OK) == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c \"import json,sys; [json.loads(l) for l in open('%s')]\"", py, path);
        TEST_CHECK(system(cmd) == 0, "metrics.jsonl is not valid JSON lines");
    }
    apt_rm_rf(dir);
    return apt_test_finish("test_progress");
}
