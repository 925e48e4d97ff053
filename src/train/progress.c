// progress.c — progress line and metrics.jsonl writer.
#include "progress.h"

#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/timer.h"

#include <errno.h>
#include <math.h>
#include <string.h>

void apt_progress_open(AptProgress *p, const char *run_dir, int rank, long total_steps, long start_step) {
    memset(p, 0, sizeof *p);
    p->total_steps = total_steps;
    p->t_start = p->t_last = apt_time_now();
    p->step_last = start_step;
    if (rank != 0) return;
    p->out = stdout;
    if (run_dir) {
        char path[4096];
        apt_path_join(path, sizeof path, run_dir, "metrics.jsonl");
        p->metrics = fopen(path, "a");
        if (!p->metrics) apt_user_error("cannot open %s for appending: %s", path, strerror(errno));
    }
}

// JSON has no NaN/Inf: write null so the file stays parseable when a run diverges.
static void json_num(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("null", f);
}

void apt_format_duration(char *out, size_t cap, double s) {
    if (!isfinite(s) || s < 0) {
        snprintf(out, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    else if (t >= 60)
        snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, cap, "%lds", t);
}

void apt_progress_time(AptProgress *p, double data_s, double step_s) {
    if (!p->out) return;
    p->data_s += data_s;
    p->step_s += step_s;
}

void apt_progress_phases(AptProgress *p, const double phase[APT_PHASE_COUNT]) {
    if (!p->out) return;
    memcpy(p->phase, phase, sizeof p->phase);
    p->has_phase = true;
}

void apt_progress_step(AptProgress *p, int epoch, long step, double loss, double lr, long images, bool print) {
    if (!p->out) return;
    double now = apt_time_now(), dt = now - p->t_last;
    double data_s = p->data_s, step_s = p->step_s, other_s = dt - data_s - step_s;
    if (other_s < 0) other_s = 0;
    p->data_s = p->step_s = 0;
    const bool has_phase = p->has_phase;
    p->has_phase = false;
    long dsteps = step - p->step_last;
    if (dt > 0 && dsteps > 0) {
        double sps = dsteps / dt;
        // Short EMA: reacts to a slower phase (evaluation, I/O) within a few intervals.
        p->steps_per_s = p->steps_per_s > 0 ? 0.7 * p->steps_per_s + 0.3 * sps : sps;
        p->images_per_s = images / dt;
    }
    p->t_last = now;
    p->step_last = step;
    double eta = p->steps_per_s > 0 ? (double)(p->total_steps - step) / p->steps_per_s : NAN;
    if (p->metrics) {
        fprintf(p->metrics, "{\"type\":\"train\",\"epoch\":%d,\"step\":%ld,\"loss\":", epoch, step);
        json_num(p->metrics, loss);
        fputs(",\"lr\":", p->metrics);
        json_num(p->metrics, lr);
        fputs(",\"images_per_s\":", p->metrics);
        json_num(p->metrics, p->images_per_s);
        fputs(",\"data_s\":", p->metrics);
        json_num(p->metrics, data_s);
        fputs(",\"step_s\":", p->metrics);
        json_num(p->metrics, step_s);
        fputs(",\"other_s\":", p->metrics);
        json_num(p->metrics, other_s);
        for (int k = 0; has_phase && k < APT_PHASE_COUNT; k++) {
            fprintf(p->metrics, ",\"%s\":", apt_phase_key((AptPhase)k));
            json_num(p->metrics, p->phase[k]);
        }
        fputs(",\"time_s\":", p->metrics);
        json_num(p->metrics, now - p->t_start);
        fputs("}\n", p->metrics);
        fflush(p->metrics);
    }
    if (print) {
        char e[32];
        apt_format_duration(e, sizeof e, eta);
        // Through the logger: the same line lands in the run directory's log.txt.
        char split[160] = "";
        if (has_phase && dt > 0 && dsteps > 0) {
            char ph[140];
            apt_phase_format(ph, sizeof ph, p->phase, dt / (double)dsteps);
            snprintf(split, sizeof split, " (%s)", ph);
        } else if (dt > 0 && data_s + step_s > 0)
            snprintf(split, sizeof split, " (data %.0f%% step %.0f%% other %.0f%%)", 100 * data_s / dt,
                     100 * step_s / dt, 100 * other_s / dt);
        apt_info("epoch %d step %ld/%ld loss %.5f lr %.3e %.0f img/s ETA %s%s", epoch, step, p->total_steps, loss, lr,
                 p->images_per_s, e, split);
    }
}

void apt_progress_eval(AptProgress *p, int epoch, long step, int n, const char *const *names,
                       const double *values) {
    if (!p->metrics) return;
    fprintf(p->metrics, "{\"type\":\"eval\",\"epoch\":%d,\"step\":%ld", epoch, step);
    for (int i = 0; i < n; i++) {
        fprintf(p->metrics, ",\"%s\":", names[i]); // names are ours (metric ids), no escaping needed
        json_num(p->metrics, values[i]);
    }
    fputs("}\n", p->metrics);
    fflush(p->metrics);
}

void apt_progress_close(AptProgress *p) {
    if (p->metrics) fclose(p->metrics);
    p->metrics = NULL;
    p->out = NULL;
}
