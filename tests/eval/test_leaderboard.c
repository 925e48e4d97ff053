// test_leaderboard.c — configs/published.yaml holds exactly the figures of the evaluation issue (listed
// again here, independently), null where the literature value is not recorded, nothing invented for
// Fashion-MNIST; leaderboard.md/json are written atomically and the JSON parses (Debian python3's json
// module) with our numbers and the published ones; malformed files are one-line user errors naming
// file:line:col.
#define _GNU_SOURCE
#include "core/check.h"
#include "core/fsutil.h"
#include "eval/leaderboard.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const AptPubValue *find(const AptPubResult *r, const char *name) {
    for (int i = 0; i < r->n_values; i++)
        if (!strcmp(r->values[i].name, name)) return &r->values[i];
    return NULL;
}

static void expect_row(const AptPublished *p, int row, const char *method, const char *backbone,
                       const char **names, const double *vals, int n) {
    TEST_CHECK(row < p->n_results, "row %d missing", row);
    if (row >= p->n_results) return;
    const AptPubResult *r = &p->results[row];
    TEST_CHECK(!strcmp(r->method, method) && !strcmp(r->backbone, backbone), "row %d: %s / %s", row,
               r->method, r->backbone);
    TEST_CHECK(r->n_values == n, "row %d: %d values, want %d", row, r->n_values, n);
    for (int i = 0; i < n; i++) {
        const AptPubValue *v = find(r, names[i]);
        TEST_CHECK(v && v->known && v->value == vals[i], "row %d %s: want %.1f", row, names[i], vals[i]);
    }
    TEST_CHECK(strstr(r->source, "arXiv:") != NULL, "row %d cites its source", row);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

// Run apt_published_load on text in a child; return its exit status and stderr.
static int load_in_child(const char *dir, const char *text, char *err, size_t cap) {
    char path[4096], errp[4096];
    apt_path_join(path, sizeof path, dir, "bad.yaml");
    apt_path_join(errp, sizeof errp, dir, "stderr.txt");
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(errp, "w", stderr)) _exit(99);
        AptPublished p;
        apt_published_load(path, "x", &p);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    char *e = slurp(errp);
    snprintf(err, cap, "%s", e ? e : "");
    free(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void) {
    const char *src = getenv("APT_SOURCE_DIR");
    char pubpath[4096];
    apt_path_join(pubpath, sizeof pubpath, src ? src : ".", "configs/published.yaml");

    AptPublished inat, vgg, fm, none;
    TEST_CHECK(apt_published_load(pubpath, "inaturalist", &inat) == 0, "inaturalist protocol present");
    const char *k4[4] = {"R@1", "R@4", "R@16", "R@32"}, *k3[3] = {"R@1", "R@16", "R@32"};
    expect_row(&inat, 0, "Smooth-AP", "ResNet-50", k4, (double[]){67.2, 81.8, 90.3, 93.1}, 4);
    expect_row(&inat, 1, "PNP-Dq", "ResNet-50", k3, (double[]){66.6, 89.7, 92.6}, 3);
    expect_row(&inat, 2, "Recall@k surrogate", "ResNet-50", k4, (double[]){71.8, 84.7, 91.9, 94.3},
               4);
    expect_row(&inat, 3, "Recall@k surrogate", "ViT-B/16", k4, (double[]){83.0, 92.1, 95.9, 97.2}, 4);
    TEST_CHECK(inat.n_results == 4 && inat.n_metrics == 4 && !strcmp(inat.metrics[1], "R@4"),
               "inaturalist table");
    TEST_CHECK(apt_published_load(pubpath, "vggface2", &vgg) == 0 && vgg.n_results == 1 &&
                   vgg.results[0].n_values == 1 && !vgg.results[0].values[0].known &&
                   !strcmp(vgg.results[0].values[0].name, "mAP") && vgg.results[0].note[0],
               "vggface2: Smooth-AP mAP left empty (null) with a note");
    TEST_CHECK(apt_published_load(pubpath, "fashion-mnist", &fm) == 0 && fm.n_results == 0 && fm.note[0],
               "fashion-mnist: no published figures, said so");
    TEST_CHECK(apt_published_load(pubpath, "no-such-protocol", &none) == 1 && none.n_results == 0,
               "missing protocol");

    // A leaderboard for made-up metrics.
    char dir[] = "/tmp/apt_lb_XXXXXX";
    TEST_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char run[4096];
    apt_path_join(run, sizeof run, dir, "runs/x");
    AptMetrics m = {.n_k = 4,
                    .K = {1, 4, 16, 32},
                    .recall = {0.5, 0.625, 0.75, 0.875},
                    .map = 0.25,
                    .map_at_r = 0.125,
                    .n_queries = 10,
                    .n_valid = 8,
                    .n_single = 2};
    AptLeaderboard lb = {.protocol = "inaturalist",
                         .dataset = "data/inat",
                         .split = "test",
                         .checkpoint = "runs/x/checkpoints/latest.h5",
                         .step = 1234,
                         .world = 2,
                         .m = &m,
                         .pub = &inat};
    TEST_CHECK(apt_leaderboard_write(run, &lb) == 0, "leaderboard written");
    char p_md[4096], p_json[4096];
    apt_path_join(p_md, sizeof p_md, run, "leaderboard.md");
    apt_path_join(p_json, sizeof p_json, run, "leaderboard.json");
    char *md = slurp(p_md);
    TEST_CHECK(
        md &&
            strstr(md,
                   "| **ours** | | **50.00** | **62.50** | **75.00** | **87.50** | **25.00** | **12.50** |"),
        "md: our row in percent:\n%s", md ? md : "(none)");
    TEST_CHECK(md && strstr(md, "| Smooth-AP | ResNet-50 | 67.2 | 81.8 | 90.3 | 93.1 | — | — |"),
               "md: Smooth-AP row");
    TEST_CHECK(md && strstr(md, "| PNP-Dq | ResNet-50 | 66.6 | — | 89.7 | 92.6 | — | — |"),
               "md: PNP row, R@4 not reported");
    TEST_CHECK(md && strstr(md, "step 1234") && strstr(md, "left out 2"), "md: provenance");
    free(md);
    const char *py = getenv("APT_PYTHON");
    if (py && access(py, X_OK) == 0) {
        char cmd[16384];
        snprintf(cmd, sizeof cmd,
                 "%s -c \"import json,sys; d=json.load(open('%s')); "
                 "assert d['ours']=={'R@1':50.0,'R@4':62.5,'R@16':75.0,'R@32':87.5,'mAP':25.0,'mAP@R':12.5}, "
                 "d['ours']; "
                 "assert d['step']==1234 and d['world_size']==2 and d['single_sample_queries']==2; "
                 "assert [p['values'].get('R@1') for p in d['published']]==[67.2,66.6,71.8,83.0]; "
                 "assert 'R@4' not in d['published'][1]['values']\"",
                 py, p_json);
        TEST_CHECK(system(cmd) == 0, "leaderboard.json parses with the expected content");
        // vggface2: null stays null.
        lb.protocol = "vggface2";
        lb.pub = &vgg;
        TEST_CHECK(apt_leaderboard_write(run, &lb) == 0, "vggface2 leaderboard written");
        snprintf(cmd, sizeof cmd,
                 "%s -c \"import json; d=json.load(open('%s')); assert d['published'][0]['values']=={'mAP': "
                 "None}\"",
                 py, p_json);
        TEST_CHECK(system(cmd) == 0, "vggface2 mAP null in json");
    } else {
        printf("skip JSON parse check: no APT_PYTHON\n");
    }

    char err[8192];
    int st = load_in_child(dir, "protocols:\n  x:\n    metrics: [R@1\n", err, sizeof err);
    TEST_CHECK(st == APT_EXIT_USER && strstr(err, "bad.yaml:") && !strchr(strchr(err, '\n') + 1, '\n'),
               "syntax error: exit %d, one line: %s", st, err);
    st = load_in_child(
        dir,
        "protocols:\n  x:\n    results:\n      - method: A\n        source: s\n        values: {R@1: 123}\n",
        err, sizeof err);
    TEST_CHECK(st == APT_EXIT_USER && strstr(err, "bad.yaml:6:") && strstr(err, "percentage"),
               "out-of-range value names its line: exit %d: %s", st, err);
    st = load_in_child(dir, "protocols:\n  x:\n    results:\n      - method: A\n        values: {R@1: 12}\n",
                       err, sizeof err);
    TEST_CHECK(st == APT_EXIT_USER && strstr(err, "source"), "uncited result rejected: %s", err);
    if (!getenv("APT_KEEP")) apt_rm_rf(dir);
    return apt_test_finish("test_leaderboard");
}
