// test_config_errors.c — every user-error kind exits with status 1 and prints exactly one line
// "aptrain: error: FILE:LINE:COL: message" with the hand-counted line and column of the offending key
// or value (fixtures in tests/config/data/), or names the override argument / the missing file.
// Each case runs in a child process (apt_user_error exits).
#include "config/config.h"
#include "config_test_util.h"
#include "harness.h"
#include "core/loss_names.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    const char *file; // fixture under tests/config/data/, or NULL for an override case
    const char *arg;  // override argument
    const char
        *expect;     // message after "aptrain: error: PATH:" (files) or after "aptrain: error: " (overrides)
    int prefix_only; // 1: libyaml's own wording follows; compare only up to the end of `expect`
} ErrCase;

// Expected positions were counted by hand from the fixture text (1-based line:column).
static const ErrCase k_cases[] = {
    // YAML syntax (libyaml's message after our prefix)
    {"syntax_tab.yaml", NULL, "3:1: YAML syntax error: ", 1},
    {"syntax_quote.yaml", NULL, "3:1: YAML syntax error: ", 1},
    // unknown keys, with did-you-mean
    {"unknown_nested.yaml", NULL, "5:3: unknown key 'optim.lrr' (did you mean 'optim.lr'?)", 0},
    {"unknown_dotted.yaml", NULL, "2:1: unknown key 'data.batchsize' (did you mean 'data.batch_size'?)", 0},
    {"unknown_section.yaml", NULL, "3:1: unknown key 'optm' (did you mean 'optim'?)", 0},
    {"unknown_none.yaml", NULL, "2:1: unknown key 'frobnicate' (aptrain --help-config lists every key)", 0},
    // wrong types
    {"wrong_number.yaml", NULL, "2:7: optim.lr: expected a number, got 'fast'", 0},
    {"wrong_int.yaml", NULL, "2:15: data.batch_size: expected an integer, got '12.5'", 0},
    {"wrong_bool.yaml", NULL, "3:19: loss.smoothap.include_self: expected true or false, got 'maybe'", 0},
    {"wrong_u64.yaml", NULL, "1:7: seed: expected a non-negative integer, got '-3'", 0},
    // out of range
    {"range_int.yaml", NULL, "2:15: data.batch_size: must be >= 1, got 0", 0},
    {"range_open.yaml", NULL, "2:8: loss.tau: must be > 0, got 0", 0},
    {"range_upper.yaml", NULL, "2:13: optim.momentum: must be < 1, got 1.0", 0},
    // bad names
    {"enum.yaml", NULL, "2:9: optim.name: must be one of adam, adamw, sgd; got 'adagrad'", 0},
    // %s: the loss list of src/core/loss_names.h, comma-separated (today "smoothap, pnp-o, pnp-ds, pnp-dq,
    // pnp-iu, pnp-ib, contrastive, triplet, multisim"), so a new loss does not change this case
    {"enum_str.yaml", NULL, "2:9: loss.name: must be one of %s; got 'smoothAP'", 0},
    // shapes
    {"mapping_for_scalar.yaml", NULL, "3:5: optim.lr: expected a number, got a mapping", 0},
    {"scalar_for_mapping.yaml", NULL,
     "2:8: 'optim' is a section: expected a mapping of its keys, got a scalar '0.1'", 0},
    {"list_for_scalar.yaml", NULL, "1:7: seed: expected a non-negative integer, got a list", 0},
    {"mapping_for_list.yaml", NULL, "2:9: data.mean: expected a list of numbers, got a mapping", 0},
    {"list_item.yaml", NULL, "2:17: eval.recall_k item 2: expected an integer, got 'two'", 0},
    {"list_item_range.yaml", NULL, "4:7: eval.recall_k item 2: must be >= 1, got 0", 0},
    {"list_too_long.yaml", NULL, "2:71: schedule.milestones item 17: at most 16 values", 0},
    {"top_list.yaml", NULL, "1:1: expected a mapping of keys at the top level, got a list", 0},
    {"key_not_scalar.yaml", NULL, "1:1: expected a key name, got a list", 0},
    {"string_too_long.yaml", NULL, "1:11: run_name: longer than 127 characters", 0},
    // duplicates
    {"dup_same.yaml", NULL, "3:1: duplicate key 'seed' (first at line 1)", 0},
    {"dup_dotted.yaml", NULL, "3:1: duplicate key 'optim.lr' (first set at line 2)", 0},
    {"dup_section.yaml", NULL, "5:1: duplicate key 'optim' (first at line 1)", 0},
    {"two_docs.yaml", NULL, "3:1: a config file holds one YAML document; found a second", 0},
    // overrides: the message names the argument
    {NULL, "optim.lrr=1", "override 'optim.lrr=1': unknown key (did you mean 'optim.lr'?)", 0},
    {NULL, "optim.tau=0.1", "override 'optim.tau=0.1': unknown key (did you mean 'loss.tau'?)", 0},
    {NULL, "zzzzzz=1", "override 'zzzzzz=1': unknown key (aptrain --help-config lists every key)", 0},
    {NULL, "optim.lr=fast", "override 'optim.lr=fast': expected a number, got 'fast'", 0},
    {NULL, "data.batch_size=0", "override 'data.batch_size=0': must be >= 1, got 0", 0},
    {NULL, "data.augment=maybe", "override 'data.augment=maybe': expected true or false, got 'maybe'", 0},
    {NULL, "optim.name=adagrad",
     "override 'optim.name=adagrad': must be one of adam, adamw, sgd; got 'adagrad'", 0},
    {NULL, "seed=-1", "override 'seed=-1': expected a non-negative integer, got '-1'", 0},
    {NULL, "seed=18446744073709551616",
     "override 'seed=18446744073709551616': must be <= 18446744073709551615, "
     "got 18446744073709551616",
     0},
    {NULL, "eval.recall_k=[1,x]", "override 'eval.recall_k=[1,x]': item 2: expected an integer, got 'x'", 0},
    {NULL, "eval.recall_k=[1,2",
     "override 'eval.recall_k=[1,2': expected a list of integers such as [1, 2], "
     "got '[1,2'",
     0},
    {NULL, "schedule.max_steps=3e9", "override 'schedule.max_steps=3e9': must be <= 2147483647, got 3e9", 0},
    {NULL, "schedule.max_steps=1e400",
     "override 'schedule.max_steps=1e400': expected an integer, got '1e400'", 0},
    {NULL, "data.std=0.5,0", "override 'data.std=0.5,0': item 2: must be > 0, got 0", 0},
    {NULL, "optim", "override 'optim': expected key=value", 0},
    {NULL, "optim=1",
     "override 'optim=1': 'optim' is a section; name one of its keys (aptrain --help-config)", 0},
};

static const ErrCase *g_case;
static char g_path[1024];

static void child(const void *arg) {
    (void)arg;
    AptConfig cfg;
    apt_config_defaults(&cfg);
    if (g_case->file)
        apt_config_load(&cfg, g_path);
    else
        apt_config_override(&cfg, g_case->arg);
}

static void child_validate(const void *arg) {
    AptConfig cfg;
    apt_config_defaults(&cfg);
    apt_config_override(&cfg, (const char *)arg);
    apt_config_validate(&cfg, 1);
}

static void child_load_path(const void *arg) {
    AptConfig cfg;
    apt_config_defaults(&cfg);
    apt_config_load(&cfg, (const char *)arg);
}

// status must be 1 and the output exactly `want` (or start with it).
static void expect_error(int status, const char *out, const char *want, int prefix_only, const char *label) {
    size_t n = strlen(want);
    int ok = prefix_only ? !strncmp(out, want, n) && strchr(out, '\n') == out + strlen(out) - 1
                         : !strncmp(out, want, n) && !strcmp(out + n, "\n");
    TEST_CHECK(status == 1, "%s: exit status %d, want 1 (output: %s)", label, status, out);
    TEST_CHECK(ok, "%s:\n   got: %s  want: %s%s", label, out, want, prefix_only ? "..." : "");
    if (status == 1 && ok) printf("ok   %s\n", label);
}

// Robustness: 400 deterministic mutations of a valid file (YAML-significant bytes inserted or replaced,
// spans deleted, lines duplicated, truncation). Every outcome must be a clean load (status 0, silent)
// or one error line "aptrain: error: PATH:L:C: ..." with L within the file - never a crash or a hang.
static void child_load_quiet(const void *arg) {
    AptConfig cfg;
    apt_config_defaults(&cfg);
    apt_config_load(&cfg, (const char *)arg);
}

static void test_mutations(void) {
    char src[1024];
    source_path(src, sizeof src, "tests/config/data/all_changed.yaml");
    FILE *f = fopen(src, "rb");
    static char base[8192], text[16384], out[4096];
    size_t n = f ? fread(base, 1, sizeof base - 1, f) : 0;
    if (f) fclose(f);
    TEST_CHECK(n > 100, "read %s", src);
    char tmpl[] = "/tmp/apt_test_mut_XXXXXX";
    int fd = mkstemp(tmpl);
    TEST_CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    static const char sig[] = ":-[]{}#\"'\t \n&*!|>%@`,?a0.~";
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int clean = 0, errors = 0, bad = 0;
    for (int it = 0; it < 400; it++) {
        size_t len = n;
        memcpy(text, base, n);
        int edits = 1 + it % 3;
        for (int e = 0; e < edits && len > 2; e++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)(x >> 33) % len;
            int op = (int)((x >> 20) % 5);
            char c = sig[(x >> 8) % (sizeof sig - 1)];
            if (op == 0)
                text[pos] = c; // replace
            else if (op == 1) {
                memmove(text + pos + 1, text + pos, len - pos);
                text[pos] = c;
                len++;
            } // insert
            else if (op == 2) {
                size_t k = 1 + (x >> 40) % 12;
                if (pos + k > len) k = len - pos; // delete
                memmove(text + pos, text + pos + k, len - pos - k);
                len -= k;
            } else if (op == 3)
                len = pos; // truncate
            else {
                size_t a = pos;
                while (a > 0 && text[a - 1] != '\n')
                    a--; // duplicate a line
                size_t b = pos;
                while (b < len && text[b] != '\n')
                    b++;
                if (b < len) b++;
                if (len + (b - a) < sizeof text) {
                    memmove(text + b + (b - a), text + b, len - b);
                    memcpy(text + b, text + a, b - a);
                    len += b - a;
                }
            }
        }
        FILE *w = fopen(tmpl, "wb");
        if (!w) break;
        fwrite(text, 1, len, w);
        fclose(w);
        int lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        int st = run_child(child_load_quiet, tmpl, 2, out, sizeof out);
        char prefix[128];
        snprintf(prefix, sizeof prefix, "aptrain: error: %s:", tmpl);
        int line = 0, col = 0;
        if (st == 0 && !out[0]) {
            clean++;
        } else if (st == 1 && !strncmp(out, prefix, strlen(prefix)) &&
                   sscanf(out + strlen(prefix), "%d:%d:", &line, &col) == 2 && line >= 1 &&
                   line <= lines + 1 && col >= 1 && strchr(out, '\n') == out + strlen(out) - 1) {
            errors++;
        } else {
            if (bad++ < 3) TEST_CHECK(0, "mutation %d: status %d, output '%s'", it, st, out);
        }
    }
    unlink(tmpl);
    TEST_CHECK(bad == 0, "%d of 400 mutations ended badly", bad);
    if (!bad)
        printf("ok   400 mutated files: %d loaded, %d one-line located errors, 0 crashes\n", clean, errors);
}

int main(void) {
    test_mutations();
    char out[4096], want[2048];
    int n = (int)(sizeof k_cases / sizeof k_cases[0]);
    for (int i = 0; i < n; i++) {
        g_case = &k_cases[i];
        if (g_case->file) {
            char rel[256];
            snprintf(rel, sizeof rel, "tests/config/data/%s", g_case->file);
            source_path(g_path, sizeof g_path, rel);
            char expect[512];
            snprintf(expect, sizeof expect, g_case->expect, APT_LOSS_NAMES_COMMA); // only enum_str has a %s
            snprintf(want, sizeof want, "aptrain: error: %s:%s", g_path, expect);
        } else {
            snprintf(want, sizeof want, "aptrain: error: %s", g_case->expect);
        }
        int st = run_child(child, NULL, 2, out, sizeof out);
        expect_error(st, out, want, g_case->prefix_only, g_case->file ? g_case->file : g_case->arg);
    }

    // Missing file and directory: one line naming the path.
    char path[1024];
    source_path(path, sizeof path, "tests/config/data/does-not-exist.yaml");
    int st = run_child(child_load_path, path, 2, out, sizeof out);
    snprintf(want, sizeof want, "aptrain: error: cannot open config file '%s': No such file or directory",
             path);
    expect_error(st, out, want, 0, "missing file");
    source_path(path, sizeof path, "tests/config/data");
    st = run_child(child_load_path, path, 2, out, sizeof out);
    snprintf(want, sizeof want, "aptrain: error: config file '%s' is a directory", path);
    expect_error(st, out, want, 0, "directory");

    // Cross-field validation through apt_config_validate: exit 1, one line naming the keys.
    st = run_child(child_validate, "data.batch_size=130", 2, out, sizeof out);
    expect_error(
        st, out,
        "aptrain: error: config: data.batch_size (130) must be a multiple of data.samples_per_class (4)", 0,
        "validate batch % m");
    return apt_test_finish("test_config_errors");
}
