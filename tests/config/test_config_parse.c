// test_config_parse.c — overrides of every type, YAML forms that must mean the same thing, did-you-mean,
// cross-field validation, and --help-config coverage.
#include "config/config.h"
#include "config/config_table.h"
#include "config_test_util.h"
#include "harness.h"

#include <stdint.h>
#include <string.h>

static char g_tmpdir[256];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

// Load YAML text (written to a temp file) over the defaults.
static void load_text(AptConfig *cfg, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.yaml", g_tmpdir, name);
    write_file(path, text);
    apt_config_defaults(cfg);
    apt_config_load(cfg, path);
}

static void test_overrides(void) {
    AptConfig c;
    apt_config_defaults(&c);
    apt_config_override(&c, "data.batch_size=256");          // int
    apt_config_override(&c, "seed=18446744073709551615");    // uint64, the largest
    apt_config_override(&c, "optim.lr=3e-5");                // double
    apt_config_override(&c, "data.augment=true");            // bool
    apt_config_override(&c, "optim.nesterov=YES");           // bool, YAML 1.1 word, any case
    apt_config_override(&c, "run_name=my run");              // string, blanks kept
    apt_config_override(&c, "loss.name=pnp-dq");             // string from an allowed list
    apt_config_override(&c, "optim.name=sgd");               // enum
    apt_config_override(&c, "model.bn=frozen_affine");       // enum, last-but-one value
    apt_config_override(&c, "eval.recall_k=[1, 4,16 ,32]");  // int list, brackets
    apt_config_override(&c, "schedule.milestones=40,70");    // int list, bare
    apt_config_override(&c, "data.mean=0.485, 0.456,0.406"); // float list
    apt_config_override(&c, "data.std=[0.229,0.224,0.225]");
    apt_config_override(&c, " optim.momentum = 0.5 "); // blanks around key and number
    apt_config_override(&c, "schedule.max_steps=1e5"); // integral number form for an int
    apt_config_override(&c, "schedule.epochs=90.0");
    TEST_CHECK(c.data.batch_size == 256, "int override");
    TEST_CHECK(c.seed == UINT64_MAX, "uint64 override");
    TEST_CHECK(c.optim.lr == 3e-5, "double override: %.17g", c.optim.lr);
    TEST_CHECK(c.data.augment && c.optim.nesterov, "bool overrides");
    TEST_CHECK(!strcmp(c.run_name, "my run") && !strcmp(c.loss.name, "pnp-dq"), "string overrides");
    TEST_CHECK(c.optim.name == APT_OPT_SGD && c.model.bn == APT_BN_FROZEN_AFFINE, "enum overrides");
    int k[] = {1, 4, 16, 32};
    TEST_CHECK(c.eval.n_recall_k == 4 && !memcmp(c.eval.recall_k, k, sizeof k), "int list override");
    TEST_CHECK(c.schedule.n_milestones == 2 && c.schedule.milestones[0] == 40 &&
                   c.schedule.milestones[1] == 70,
               "bare int list override");
    TEST_CHECK(c.data.n_mean == 3 && c.data.mean[1] == 0.456f && c.data.n_std == 3 && c.data.std[2] == 0.225f,
               "float list overrides");
    TEST_CHECK(c.optim.momentum == 0.5, "blanks trimmed");
    TEST_CHECK(c.schedule.max_steps == 100000 && c.schedule.epochs == 90, "1e5 and 90.0 as integers");
    // A shorter list replaces the longer one entirely (no stale tail: configs compare with memcmp).
    apt_config_override(&c, "eval.recall_k=5");
    TEST_CHECK(c.eval.n_recall_k == 1 && c.eval.recall_k[0] == 5 && c.eval.recall_k[1] == 0, "list replaced");
    apt_config_override(&c, "schedule.milestones=[]");
    TEST_CHECK(c.schedule.n_milestones == 0, "empty list");
    // A shorter string leaves no tail either.
    apt_config_override(&c, "run_name=ab");
    TEST_CHECK(!strcmp(c.run_name, "ab") && c.run_name[3] == 0 && c.run_name[5] == 0, "string tail zeroed");
    // Override after a file: the later value wins.
    AptConfig f;
    load_text(&f, "ov", "optim:\n  lr: 0.5\n");
    apt_config_override(&f, "optim.lr=0.25");
    TEST_CHECK(f.optim.lr == 0.25, "override beats file");
    printf("ok   overrides of every type\n");
}

// Nested, dotted, flow and mixed spellings of the same settings give identical structs.
static void test_yaml_forms(void) {
    AptConfig a, b, c, d;
    load_text(&a, "nested",
              "optim:\n  lr: 0.002\n  name: sgd\nloss:\n  smoothap:\n    include_self: false\n"
              "eval:\n  recall_k:\n    - 1\n    - 10\n");
    load_text(&b, "dotted",
              "optim.lr: 0.002\noptim.name: sgd\nloss.smoothap.include_self: false\n"
              "eval.recall_k: [1, 10]\n");
    load_text(
        &c, "flow",
        "{optim: {lr: 2e-3, name: sgd}, loss: {smoothap.include_self: no}, eval: {recall_k: '1,10'}}\n");
    load_text(&d, "mixed",
              "# comment\noptim:\n  lr: \"0.002\"   # a quoted number is accepted\nloss.smoothap:\n"
              "  include_self: False\noptim.name: sgd\neval: {recall_k: \"1, 10\"}\n");
    TEST_CHECK(a.optim.lr == 0.002 && a.optim.name == APT_OPT_SGD && !a.loss.smoothap.include_self &&
                   a.eval.n_recall_k == 2 && a.eval.recall_k[1] == 10,
               "nested values");
    TEST_CHECK(!memcmp(&a, &b, sizeof a), "dotted == nested");
    TEST_CHECK(!memcmp(&a, &c, sizeof a), "flow == nested");
    TEST_CHECK(!memcmp(&a, &d, sizeof a), "mixed == nested");
    // Empty file, comments only, and a null section keep every default.
    AptConfig def, e1, e2, e3;
    apt_config_defaults(&def);
    load_text(&e1, "empty", "");
    load_text(&e2, "comments", "# nothing here\n\n");
    load_text(&e3, "nullsec", "optim:\nmodel: ~\n");
    TEST_CHECK(!memcmp(&def, &e1, sizeof def) && !memcmp(&def, &e2, sizeof def) &&
                   !memcmp(&def, &e3, sizeof def),
               "empty inputs keep defaults");
    // A null string value is the empty string.
    AptConfig s;
    load_text(&s, "nullstr", "model:\n  pretrained: ~\nresume:\n");
    TEST_CHECK(s.model.pretrained[0] == 0 && s.resume[0] == 0, "null string -> \"\"");
    printf("ok   YAML forms (nested, dotted, flow, mixed, empty)\n");
}

static void test_suggest(void) {
    static const char *cases[][2] = {
        {"optim.lrr", "optim.lr"},
        {"optim.weightdecay", "optim.weight_decay"},
        {"data.batchsize", "data.batch_size"},
        {"loss.smoothap.includeself", "loss.smoothap.include_self"},
        {"model.embed_dims", "model.embed_dim"},
        {"eval.recal_k", "eval.recall_k"},
        {"sede", "seed"},          // transposition counts as one edit
        {"optm", "optim"},         // sections are candidates too
        {"optim.tau", "loss.tau"}, // right name, wrong section
        {"schedule.milestone", "schedule.milestones"},
        {"logging.every_step", "logging.every_steps"},
        {"checkpoint.every_epoch", "checkpoint.every_epochs"},
        {"qqqqqqqqq", ""}, // nothing close
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[160];
        apt_cfg_suggest(cases[i][0], got, sizeof got);
        TEST_CHECK(!strcmp(got, cases[i][1]), "suggest('%s') = '%s', want '%s'", cases[i][0], got,
                   cases[i][1]);
    }
    printf("ok   did-you-mean on %zu cases\n", sizeof cases / sizeof cases[0]);
}

// Each rule of apt_config_check fails on a hand-made violation and names its keys.
static void test_validate(void) {
    static const struct {
        const char *ov[3];
        int world;
        const char *want; // substring of the message
    } cases[] = {
        {{"data.batch_size=130", NULL},
         1,
         "data.batch_size (130) must be a multiple of data.samples_per_class (4)"},
        {{"data.batch_size=4", NULL}, 1, "gives 1 class per batch"},
        {{"data.batch_size=132", NULL},
         8,
         "data.batch_size (132) must be a multiple of the number of processes (8)"},
        {{"data.mean=0.4,0.5,0.6", NULL}, 1, "data.mean has 3 values and data.std 1"},
        {{"data.mean=[]", "data.std=[]"}, 1, "data.mean has 0 values"},
        {{"data.crop=256", "data.resize=224"}, 1, "data.crop (256) must be <= data.resize (224)"},
        {{"eval.recall_k=[4,2]", NULL}, 1, "eval.recall_k must be a non-empty increasing list"},
        {{"eval.recall_k=[]", NULL}, 1, "eval.recall_k must be a non-empty increasing list"},
        {{"schedule.name=step", NULL}, 1, "schedule.name step needs schedule.milestones"},
        {{"schedule.name=step", "schedule.milestones=70,40"},
         1,
         "schedule.name step needs schedule.milestones"},
        {{"dist.backend=nccl", "device=cpu"}, 1, "dist.backend nccl needs device cuda"},
        {{"model.drop_path=0.1", NULL}, 1, "apply to the vit_* archs, not model.arch smallcnn"},
        {{"model.vit_pool=mean", NULL}, 1, "apply to the vit_* archs"},
        {{"optim.layer_decay=0.65", "model.arch=resnet50"}, 1, "apply to the vit_* archs, not model.arch resnet50"},
        {{"train.chunk=8", "model.bn=sync"}, 1, "train.chunk needs model.bn frozen or frozen_affine"},
        {{"train.chunk=8", "model.bn=local"}, 1, "train.chunk needs model.bn frozen or frozen_affine"},
        {{"loss.simix=true", "loss.name=pnp-dq"}, 1, "loss.simix works with loss.name recallk only, not pnp-dq"},
        {{"loss.simix=true", "loss.name=recallk", "loss.memory=64"},
         1,
         "loss.simix does not combine with loss.memory (64)"},
        {{"loss.simix=true", "loss.name=recallk", "data.sampler=random"}, 1, "loss.simix needs data.sampler epoch"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        AptConfig c;
        apt_config_defaults(&c);
        for (int j = 0; j < 3 && cases[i].ov[j]; j++)
            apt_config_override(&c, cases[i].ov[j]);
        err[0] = 0;
        int rc = apt_config_check(&c, cases[i].world, err, sizeof err);
        TEST_CHECK(rc == 1 && strstr(err, cases[i].want), "validate case %zu: rc %d, '%s', want '%s'", i, rc,
                   err, cases[i].want);
    }
    // The passing side of the same rules.
    AptConfig c;
    apt_config_defaults(&c);
    apt_config_override(&c, "data.batch_size=384");
    apt_config_override(&c, "schedule.name=step");
    apt_config_override(&c, "schedule.milestones=40,70");
    for (int w = 1; w <= 128; w *= 2)
        TEST_CHECK(apt_config_check(&c, w, err, sizeof err) == 0, "B=384 at world %d: %s", w, err);
    TEST_CHECK(apt_config_check(&c, 256, err, sizeof err) == 1, "B=384 at world 256 must fail");
    TEST_CHECK(apt_config_check(&c, 0, err, sizeof err) == 0, "world 0 skips the world rule");
    apt_config_override(&c, "loss.name=recallk");
    apt_config_override(&c, "loss.simix=true");
    TEST_CHECK(apt_config_check(&c, 4, err, sizeof err) == 0, "recallk + loss.simix: %s", err);
    apt_config_override(&c, "loss.simix=false");
    apt_config_override(&c, "model.arch=vit_s16");
    apt_config_override(&c, "model.drop_path=0.1");
    apt_config_override(&c, "model.vit_pool=mean");
    apt_config_override(&c, "optim.layer_decay=0.65");
    TEST_CHECK(apt_config_check(&c, 1, err, sizeof err) == 0, "ViT keys on vit_s16: %s", err);
    printf("ok   cross-field validation, %zu failing cases\n", sizeof cases / sizeof cases[0]);
}

static void child_help(const void *arg) {
    (void)arg;
    apt_config_print_help();
}

static void test_help(void) {
    static char out[1 << 16];
    int st = run_child(child_help, NULL, 1, out, sizeof out);
    TEST_CHECK(st == 0, "help exit status %d", st);
    int n, missing = 0;
    const AptCfgKey *keys = apt_cfg_keys(&n);
    AptConfig def;
    apt_config_defaults(&def);
    for (int i = 0; i < n; i++) {
        // Each key starts a line, followed by its type and default value.
        char needle[300], value[256], line_start[200];
        snprintf(line_start, sizeof line_start, "\n%s ", keys[i].key);
        apt_cfg_format(&def, &keys[i], value, sizeof value);
        const char *at = strstr(out, line_start);
        snprintf(needle, sizeof needle, " %s ", value);
        const char *eol = at ? strchr(at + 1, '\n') : NULL;
        const char *v = at ? strstr(at, needle) : NULL;
        if (!at || !v || (eol && v > eol) || !strstr(at, keys[i].help)) {
            TEST_CHECK(0, "help lacks '%s' with default %s and its help text", keys[i].key, value);
            missing++;
        }
    }
    if (!missing) printf("ok   --help-config lists all %d keys with defaults and help\n", n);
}

int main(void) {
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/apt_test_config_XXXXXX");
    if (!mkdtemp(g_tmpdir)) return 1;
    test_overrides();
    test_yaml_forms();
    test_suggest();
    test_validate();
    test_help();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_tmpdir);
    return apt_test_finish("test_config_parse");
}
