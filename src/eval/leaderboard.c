// leaderboard.c — rank 0 writes leaderboard.md and leaderboard.json in the run directory: our metrics
// (percent), where they came from (checkpoint, step, dataset, protocol, world size, query counts) and
// the published figures of the same protocol beside them. Each file is written to a temp name, fsynced
// and renamed, so a reader never sees half a leaderboard.
#include "eval/leaderboard.h"

#include "core/check.h"
#include "core/fsutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_COLS (APT_METRICS_MAX_K + 2 + APT_PUB_MAX_VALUES)

// Our value of a metric named as in published.yaml; 0 if we did not compute it.
static int our_value(const AptMetrics *m, const char *name, double *v) {
    int K;
    char tail;
    if (!strcmp(name, "mAP")) {
        *v = 100 * m->map;
        return 1;
    }
    if (!strcmp(name, "mAP@R")) {
        *v = 100 * m->map_at_r;
        return 1;
    }
    if (sscanf(name, "R@%d%c", &K, &tail) == 1)
        for (int i = 0; i < m->n_k; i++)
            if (m->K[i] == K) {
                *v = 100 * m->recall[i];
                return 1;
            }
    return 0;
}

static const AptPubValue *pub_value(const AptPubResult *r, const char *name) {
    for (int i = 0; i < r->n_values; i++)
        if (!strcmp(r->values[i].name, name)) return &r->values[i];
    return NULL;
}

// Columns: our R@K list, mAP, mAP@R, then any published metric we do not compute.
static int columns(const AptLeaderboard *lb, char cols[][16]) {
    int n = 0;
    for (int i = 0; i < lb->m->n_k; i++)
        snprintf(cols[n++], 16, "R@%d", lb->m->K[i]);
    snprintf(cols[n++], 16, "mAP");
    snprintf(cols[n++], 16, "mAP@R");
    if (lb->pub)
        for (int i = 0; i < lb->pub->n_metrics; i++) {
            int seen = 0;
            for (int j = 0; j < n; j++)
                seen |= !strcmp(cols[j], lb->pub->metrics[i]);
            if (!seen && n < MAX_COLS) snprintf(cols[n++], 16, "%s", lb->pub->metrics[i]);
        }
    return n;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void md_cell_text(FILE *f, const char *s) { // no pipes or newlines
    for (; s && *s; s++)
        fputc(*s == '|' ? '/' : *s == '\n' ? ' ' : *s, f);
}
static void md_cell(FILE *f, const char *s) { // a table cell
    fputc(' ', f);
    md_cell_text(f, s);
    fputs(" |", f);
}

static void write_md(FILE *f, const AptLeaderboard *lb, const char *when) {
    char cols[MAX_COLS][16];
    int nc = columns(lb, cols);
    const AptMetrics *m = lb->m;
    fprintf(f, "# Leaderboard — %s\n\n", lb->protocol);
    if (lb->pub && lb->pub->description[0]) fprintf(f, "%s\n\n", lb->pub->description);
    fprintf(f, "- dataset: `%s`, split `%s`\n", lb->dataset, lb->split);
    fprintf(f, "- weights: %s, step %lld\n",
            lb->checkpoint && lb->checkpoint[0] ? lb->checkpoint : "live model", (long long)lb->step);
    fprintf(
        f,
        "- queries: %lld, evaluated %lld, left out %lld (single-sample classes: no positive to retrieve)\n",
        (long long)m->n_queries, (long long)m->n_valid, (long long)m->n_single);
    fprintf(f,
            "- protocol: every item queries all others of the split, self excluded; cosine similarity; "
            "ties ranked by index; %d rank(s); %s\n\n",
            lb->world, when);
    fputs("| method | backbone |", f);
    for (int c = 0; c < nc; c++)
        fprintf(f, " %s |", cols[c]);
    fputs("\n|---|---|", f);
    for (int c = 0; c < nc; c++)
        fputs("---:|", f);
    fputs("\n| **ours**", f);
    if (lb->method && lb->method[0]) {
        fputs(" (", f);
        md_cell_text(f, lb->method);
        fputs(")", f);
    }
    fputs(" |", f);
    if (lb->backbone && lb->backbone[0])
        md_cell(f, lb->backbone);
    else
        fputs(" |", f);
    for (int c = 0; c < nc; c++) {
        double v;
        if (our_value(m, cols[c], &v))
            fprintf(f, " **%.2f** |", v);
        else
            fputs(" — |", f);
    }
    fputc('\n', f);
    for (int r = 0; lb->pub && r < lb->pub->n_results; r++) {
        const AptPubResult *pr = &lb->pub->results[r];
        fputs("|", f);
        md_cell(f, pr->method);
        md_cell(f, pr->backbone);
        for (int c = 0; c < nc; c++) {
            const AptPubValue *pv = pub_value(pr, cols[c]);
            if (!pv)
                fputs(" — |", f);
            else if (!pv->known)
                fputs(" ? |", f);
            else
                fprintf(f, " %.1f |", pv->value);
        }
        fputc('\n', f);
    }
    if (lb->borrowed && lb->borrowed[0])
        fprintf(f,
                "\n**ours** is this run%s%s%s. Settings borrowed from another method's paper: %s. It is not that "
                "paper's result; its published row (if listed) is that method's own figure.\n",
                lb->method && lb->method[0] ? " (loss " : "", lb->method && lb->method[0] ? lb->method : "",
                lb->method && lb->method[0] ? ")" : "", lb->borrowed);
    fputs("\nAll figures in percent. — : not computed / not reported; ? : reported in the source but not "
          "recorded in configs/published.yaml.\n",
          f);
    if (!lb->pub)
        fputs("\nNo published figures for this protocol (no entry in the published-results file).\n", f);
    else if (lb->pub->n_results == 0)
        fputs("\nNo published figures for this protocol.\n", f);
    if (lb->pub && lb->pub->note[0]) fprintf(f, "\n%s\n", lb->pub->note);
    if (lb->pub && lb->pub->n_results) {
        fputs("\nSources:\n", f);
        for (int r = 0; r < lb->pub->n_results; r++) {
            const AptPubResult *pr = &lb->pub->results[r];
            fprintf(f, "- %s (%s): %s%s%s\n", pr->method, pr->backbone, pr->source, pr->note[0] ? ". " : "",
                    pr->note);
        }
    }
}

static void write_json(FILE *f, const AptLeaderboard *lb, const char *when) {
    const AptMetrics *m = lb->m;
    fputs("{\n  \"protocol\": ", f);
    json_str(f, lb->protocol);
    fputs(",\n  \"dataset\": ", f);
    json_str(f, lb->dataset);
    fputs(",\n  \"split\": ", f);
    json_str(f, lb->split);
    fputs(",\n  \"checkpoint\": ", f);
    json_str(f, lb->checkpoint ? lb->checkpoint : "");
    fprintf(f, ",\n  \"step\": %lld,\n  \"world_size\": %d,\n  \"written\": ", (long long)lb->step,
            lb->world);
    json_str(f, when);
    fprintf(f,
            ",\n  \"units\": \"percent\",\n  \"queries\": %lld,\n  \"valid_queries\": %lld,\n"
            "  \"single_sample_queries\": %lld,\n  \"ours\": {",
            (long long)m->n_queries, (long long)m->n_valid, (long long)m->n_single);
    for (int i = 0; i < m->n_k; i++)
        fprintf(f, "\"R@%d\": %.17g, ", m->K[i], 100 * m->recall[i]);
    fprintf(f, "\"mAP\": %.17g, \"mAP@R\": %.17g},\n  \"ours_run\": {\"method\": ", 100 * m->map, 100 * m->map_at_r);
    json_str(f, lb->method ? lb->method : "");
    fputs(", \"backbone\": ", f);
    json_str(f, lb->backbone ? lb->backbone : "");
    fputs(", \"borrowed\": ", f);
    json_str(f, lb->borrowed ? lb->borrowed : "");
    fputs("},\n  \"published\": [", f);
    for (int r = 0; lb->pub && r < lb->pub->n_results; r++) {
        const AptPubResult *pr = &lb->pub->results[r];
        fputs(r ? ",\n    {\"method\": " : "\n    {\"method\": ", f);
        json_str(f, pr->method);
        fputs(", \"backbone\": ", f);
        json_str(f, pr->backbone);
        fputs(", \"source\": ", f);
        json_str(f, pr->source);
        fputs(", \"note\": ", f);
        json_str(f, pr->note);
        fputs(", \"values\": {", f);
        for (int i = 0; i < pr->n_values; i++) {
            fputs(i ? ", " : "", f);
            json_str(f, pr->values[i].name);
            if (pr->values[i].known)
                fprintf(f, ": %.17g", pr->values[i].value);
            else
                fputs(": null", f);
        }
        fputs("}}", f);
    }
    fputs(lb->pub && lb->pub->n_results ? "\n  ],\n  \"protocol_note\": " : "],\n  \"protocol_note\": ", f);
    json_str(f, lb->pub ? lb->pub->note : "no published figures for this protocol");
    fputs("\n}\n", f);
}

static int write_one(const char *run_dir, const char *name, const AptLeaderboard *lb, const char *when,
                     void (*fn)(FILE *, const AptLeaderboard *, const char *)) {
    char path[4096];
    apt_path_join(path, sizeof path, run_dir, name);
    AptAtomicFile a;
    if (apt_atomic_open(&a, path, "w") != 0) return -1;
    fn(a.f, lb, when);
    return apt_atomic_commit(&a);
}

int apt_leaderboard_write(const char *run_dir, const AptLeaderboard *lb) {
    APT_CHECK(lb && lb->m && lb->protocol, "leaderboard: metrics and protocol are required");
    if (apt_mkdir_p(run_dir) != 0) return -1;
    char when[64];
    time_t t = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tmv));
    if (write_one(run_dir, "leaderboard.md", lb, when, write_md) != 0) return -1;
    return write_one(run_dir, "leaderboard.json", lb, when, write_json);
}
