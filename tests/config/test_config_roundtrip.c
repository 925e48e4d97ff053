// test_config_roundtrip.c — resolved config YAML re-loads to the same struct, bit for bit.
//
// Checks, each against an independent expectation:
//   1. defaults -> dump -> load == defaults (memcmp of the whole struct and per key);
//   2. all_changed.yaml sets EVERY key to a non-default value (checked key by key against the defaults),
//      and its dump re-loads to the same struct;
//   3. awkward values (1/3, the smallest denormal, DBL_MAX, -0.0, floats 1/3 and 1e-40, UINT64_MAX,
//      strings with quotes, backslashes, newlines, control bytes, leading blanks, YAML words like "yes",
//      numeric-looking and empty strings) survive dump -> load exactly;
//   4. apt_config_dump writes the header as comments and the file re-loads; every shipped configs/*.yaml
//      loads, validates, and holds the values the paper-settings issue prescribes.
#include "config/config.h"
#include "config/config_table.h"
#include "config_test_util.h"
#include "harness.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static char g_tmpdir[256];

// Dump cfg to a temp file and load it back over the defaults.
static void dump_and_reload(const AptConfig *cfg, AptConfig *out, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.yaml", g_tmpdir, name);
    TEST_CHECK(apt_config_dump(cfg, path, "aptrain test\nworld_size: 4\nseed: 1") == 0, "dump %s", path);
    apt_config_defaults(out);
    apt_config_load(out, path);
}

// Per-key comparison (names the differing key), then the whole struct.
static int expect_same(const AptConfig *a, const AptConfig *b, const char *label) {
    int n, bad = 0;
    const AptCfgKey *keys = apt_cfg_keys(&n);
    for (int i = 0; i < n; i++) {
        if (!apt_cfg_field_equal(a, b, &keys[i])) {
            char va[1024], vb[1024];
            apt_cfg_format(a, &keys[i], va, sizeof va);
            apt_cfg_format(b, &keys[i], vb, sizeof vb);
            TEST_CHECK(0, "%s: %s differs after reload: %s vs %s", label, keys[i].key, va, vb);
            bad++;
        }
    }
    TEST_CHECK(memcmp(a, b, sizeof *a) == 0, "%s: structs differ (memcmp) after reload", label);
    if (!bad) printf("ok   %s: %d keys equal after dump -> load, memcmp equal\n", label, n);
    return bad == 0;
}

static void test_defaults(void) {
    AptConfig def, back;
    apt_config_defaults(&def);
    dump_and_reload(&def, &back, "defaults");
    expect_same(&def, &back, "defaults");
    // Spot checks of the table against the documented defaults (README / issue).
    TEST_CHECK(!strcmp(def.model.arch, "smallcnn") && def.model.embed_dim == 128, "model defaults");
    TEST_CHECK(def.data.batch_size == 128 && def.data.samples_per_class == 4, "batch defaults");
    TEST_CHECK(!strcmp(def.loss.name, "smoothap") && def.loss.tau == 0.01 && def.loss.smoothap.include_self,
               "loss defaults");
    TEST_CHECK(def.loss.pnp.alpha == 4 && def.loss.pnp.b == 2, "pnp defaults");
    TEST_CHECK(def.optim.name == APT_OPT_ADAM && def.optim.lr == 1e-4, "optim defaults");
    TEST_CHECK(def.eval.n_recall_k == 4 && def.eval.recall_k[0] == 1 && def.eval.recall_k[3] == 8,
               "recall_k");
    TEST_CHECK(def.data.n_mean == 1 && def.data.mean[0] == 0.5f && def.data.n_std == 1, "mean/std");
    TEST_CHECK(def.device == APT_DEVICE_AUTO && def.precision == APT_PREC_FP32 && !strcmp(def.resume, "auto"),
               "run defaults");
    TEST_CHECK(!strcmp(def.dist.backend, "auto") && def.logging.every_steps == 10, "dist/logging defaults");
    TEST_CHECK(!strcmp(def.out_dir, "runs") && !strcmp(def.run_name, "run"), "paths");
    char err[256];
    TEST_CHECK(apt_config_check(&def, 1, err, sizeof err) == 0, "defaults validate: %s", err);
}

static void test_all_changed(void) {
    AptConfig def, cfg, back;
    apt_config_defaults(&def);
    char path[512];
    source_path(path, sizeof path, "tests/config/data/all_changed.yaml");
    apt_config_defaults(&cfg);
    apt_config_load(&cfg, path);
    int n, unchanged = 0;
    const AptCfgKey *keys = apt_cfg_keys(&n);
    for (int i = 0; i < n; i++) {
        if (apt_cfg_field_equal(&def, &cfg, &keys[i])) {
            TEST_CHECK(0, "all_changed.yaml leaves %s at its default", keys[i].key);
            unchanged++;
        }
    }
    if (!unchanged) printf("ok   all_changed.yaml changes all %d keys\n", n);
    // Values parsed from the hand-written file (independent of the dumper).
    TEST_CHECK(!strcmp(cfg.run_name, "a run: with \"quotes\", a # and a backslash \\"), "run_name '%s'",
               cfg.run_name);
    TEST_CHECK(!strcmp(cfg.model.pretrained, "weights/r101 'imagenet'.safetensors"), "single-quoted string");
    TEST_CHECK(cfg.seed == UINT64_MAX, "seed %llu", (unsigned long long)cfg.seed);
    TEST_CHECK(cfg.optim.lr == 3.0e-5 && cfg.optim.nesterov && cfg.logging.all_ranks, "lr / yes / on");
    TEST_CHECK(cfg.loss.ms.lambda == 0.25 && !strcmp(cfg.loss.name, "pnp-ib") &&
                   !cfg.loss.smoothap.include_self,
               "flow mapping and dotted keys");
    TEST_CHECK(cfg.schedule.n_milestones == 2 && cfg.schedule.milestones[1] == 70, "scalar list '40, 70'");
    TEST_CHECK(cfg.data.n_mean == 3 && cfg.data.mean[2] == 0.406f, "block sequence");
    TEST_CHECK(!strcmp(cfg.data.train_split, "yes") && !strcmp(cfg.resume, "123"),
               "YAML words kept as strings");
    dump_and_reload(&cfg, &back, "all_changed");
    expect_same(&cfg, &back, "all_changed");
}

static void test_awkward(void) {
    AptConfig cfg, back;
    apt_config_defaults(&cfg);
    cfg.optim.lr = 1.0 / 3.0;
    cfg.schedule.min_lr = 4.9406564584124654e-324; // smallest denormal
    cfg.optim.clip_grad_norm = DBL_MAX;
    cfg.optim.weight_decay = 0.1 + 0.2; // 0.30000000000000004
    cfg.loss.ms.lambda = -0.0;
    cfg.model.head_init_std = 1e-300;
    cfg.data.n_mean = cfg.data.n_std = 3;
    cfg.data.mean[0] = 1.0f / 3.0f, cfg.data.mean[1] = 1e-40f, cfg.data.mean[2] = -0.0f;
    cfg.data.std[0] = FLT_MAX, cfg.data.std[1] = FLT_MIN, cfg.data.std[2] = 16777217.0f;
    cfg.seed = UINT64_MAX - 1;
    apt_config_override(&cfg, "run_name=tab\there \"q\" back\\slash\nnewline \x01 end");
    apt_config_override(&cfg, "out_dir=  leading and trailing  ");
    apt_config_override(&cfg, "resume=no");
    apt_config_override(&cfg, "model.pretrained=1e5");
    apt_config_override(&cfg, "eval.protocol=");
    apt_config_override(&cfg, "data.root=#not a comment: [x], {y}, & *z ! | > % @ `");
    apt_config_override(&cfg, "data.test_split=caf\xc3\xa9 \xe2\x9c\x93"); // UTF-8 passes through
    apt_config_override(&cfg, "schedule.milestones=[]");
    dump_and_reload(&cfg, &back, "awkward");
    expect_same(&cfg, &back, "awkward");
    TEST_CHECK(back.optim.lr == 1.0 / 3.0 && back.schedule.min_lr == 4.9406564584124654e-324,
               "doubles exact");
    TEST_CHECK(signbit(back.loss.ms.lambda) && signbit(back.data.mean[2]), "negative zeros kept");
    TEST_CHECK(!strcmp(back.out_dir, "  leading and trailing  ") && !strcmp(back.resume, "no"),
               "strings verbatim");
}

// The header becomes comment lines; the file starts with them and still loads (checked above).
static void test_header(void) {
    AptConfig def;
    apt_config_defaults(&def);
    char path[512];
    snprintf(path, sizeof path, "%s/header.yaml", g_tmpdir);
    TEST_CHECK(apt_config_dump(&def, path, "aptrain 0.1.0\nworld_size: 2\nseed: 0") == 0, "dump");
    FILE *f = fopen(path, "r");
    char line[256] = "", l2[256] = "", l3[256] = "";
    TEST_CHECK(f && fgets(line, sizeof line, f) && fgets(l2, sizeof l2, f) && fgets(l3, sizeof l3, f),
               "read");
    if (f) fclose(f);
    TEST_CHECK(!strcmp(line, "# aptrain 0.1.0\n") && !strcmp(l2, "# world_size: 2\n") &&
                   !strcmp(l3, "# seed: 0\n"),
               "header lines: '%s' '%s' '%s'", line, l2, l3);
    TEST_CHECK(apt_config_dump(&def, "/nonexistent-dir/x.yaml", NULL) != 0,
               "dump to a bad path returns nonzero");
}

// Values the paper-settings issue prescribes (ResNet-50 frozen BN, 512-d, Adam coupled L2 4e-4, lr 1e-5,
// fc_lr_mul 2, B = 384 = 96 x 4, tau 0.01, PNP-D_q alpha 4, 224 crops; iNaturalist 90 epochs, step 40/70
// gamma 0.3, R@1,4,16,32, ImageNet normalisation; VGGFace2 SE-ResNet-50 with the released models'
// preprocessing, R@1,5,10).
static void check_paper(const AptConfig *c, const char *name) {
    const bool face = strstr(name, "vggface2") != NULL;
    TEST_CHECK(!strcmp(c->model.arch, face ? "senet50" : "resnet50") && c->model.embed_dim == 512 &&
                   c->model.bn == APT_BN_FROZEN,
               "%s: model", name);
    TEST_CHECK(c->data.preprocess == (face ? APT_PREPROC_VGGFACE2 : APT_PREPROC_IMAGENET) &&
                   (face || c->data.n_mean == 3),
               "%s: preprocessing", name);
    TEST_CHECK(c->optim.name == APT_OPT_ADAM && c->optim.lr == 1e-5 && c->optim.weight_decay == 4e-4 &&
                   c->optim.fc_lr_mul == 2,
               "%s: optim", name);
    TEST_CHECK(c->data.batch_size == 384 && c->data.samples_per_class == 4 && c->data.crop == 224 &&
                   c->data.augment,
               "%s: data", name);
    TEST_CHECK(c->loss.tau == 0.01, "%s: tau", name);
    if (strstr(name, "pnp"))
        TEST_CHECK(!strcmp(c->loss.name, "pnp-dq") && c->loss.pnp.alpha == 4, "%s: pnp-dq alpha 4", name);
    else
        TEST_CHECK(!strcmp(c->loss.name, "smoothap") && c->loss.smoothap.include_self, "%s: smoothap", name);
    if (strstr(name, "inaturalist")) {
        TEST_CHECK(c->schedule.name == APT_SCHED_STEP && c->schedule.epochs == 90 &&
                       c->schedule.n_milestones == 2 && c->schedule.milestones[0] == 40 &&
                       c->schedule.milestones[1] == 70 && c->schedule.gamma == 0.3,
                   "%s: schedule", name);
        int k[] = {1, 4, 16, 32};
        TEST_CHECK(c->eval.n_recall_k == 4 && !memcmp(c->eval.recall_k, k, sizeof k) &&
                       !strcmp(c->eval.protocol, "inaturalist"),
                   "%s: eval", name);
    } else {
        int k[] = {1, 5, 10};
        TEST_CHECK(c->eval.n_recall_k == 3 && !memcmp(c->eval.recall_k, k, sizeof k) &&
                       !strcmp(c->eval.protocol, "vggface2"),
                   "%s: eval", name);
    }
}

// The ViT-B/16 configs: Smooth-AP / PNP-D_q losses as above with the ViT-B/16 settings borrowed from the
// Recall@k surrogate code's iNaturalist branch (AdamW, lr 5e-5, decay 4e-4, B = 4000 = 1000 x 4, step
// [10, 40, 70] x 0.3 over 90 epochs), and eval.borrowed naming them.
static void check_vit(const AptConfig *c, const char *name) {
    TEST_CHECK(!strcmp(c->model.arch, "vit_b16") && c->model.embed_dim == 512 && !strcmp(c->model.vit_pool, "token"),
               "%s: model", name);
    TEST_CHECK(c->optim.name == APT_OPT_ADAMW && c->optim.lr == 5e-5 && c->optim.weight_decay == 4e-4 &&
                   c->optim.fc_lr_mul == 1,
               "%s: optim", name);
    TEST_CHECK(c->data.batch_size == 4000 && c->data.samples_per_class == 4 && c->data.crop == 224 &&
                   c->data.augment && c->data.n_mean == 3,
               "%s: data", name);
    TEST_CHECK(c->loss.tau == 0.01 && (strstr(name, "pnp") ? !strcmp(c->loss.name, "pnp-dq") && c->loss.pnp.alpha == 4
                                                           : !strcmp(c->loss.name, "smoothap")),
               "%s: loss", name);
    TEST_CHECK(c->schedule.name == APT_SCHED_STEP && c->schedule.epochs == 90 && c->schedule.n_milestones == 3 &&
                   c->schedule.milestones[0] == 10 && c->schedule.milestones[1] == 40 &&
                   c->schedule.milestones[2] == 70 && c->schedule.gamma == 0.3,
               "%s: schedule", name);
    int k[] = {1, 4, 16, 32};
    TEST_CHECK(c->eval.n_recall_k == 4 && !memcmp(c->eval.recall_k, k, sizeof k) &&
                   !strcmp(c->eval.protocol, "inaturalist") && strstr(c->eval.borrowed, "Patel"),
               "%s: eval (protocol, K, borrowed settings named)", name);
}

// The Recall@k surrogate recipes (configs/inaturalist_recallk{,_vitb16}.yaml): the official code's iNaturalist
// settings (Patel et al., src/main.py): B = 4000 = 1000 x 4, 90 epochs, gamma 0.3, decay 4e-4, 512-d, tau 0.01,
// k = temperatures = [1, 2, 4, 8, 16], R@1,4,16,32; ResNet-50: Adam lr 1e-4, milestones [40, 70], bs_base 200;
// ViT-B/16: AdamW lr 5e-5, milestones [10, 40, 70], bs_base 100. No memory, shared head learning rate.
static void check_recallk(const AptConfig *c, const char *name) {
    const bool vit = strstr(name, "vitb16") != NULL;
    TEST_CHECK(!strcmp(c->model.arch, vit ? "vit_b16" : "resnet50") && c->model.embed_dim == 512, "%s: model", name);
    TEST_CHECK(c->optim.name == (vit ? APT_OPT_ADAMW : APT_OPT_ADAM) && c->optim.lr == (vit ? 5e-5 : 1e-4) &&
                   c->optim.weight_decay == 4e-4 && c->optim.fc_lr_mul == 1,
               "%s: optim", name);
    TEST_CHECK(c->data.batch_size == 4000 && c->data.samples_per_class == 4 && c->data.crop == 224 &&
                   c->data.augment && c->train.chunk == (vit ? 100 : 200),
               "%s: data and chunk", name);
    int k[] = {1, 2, 4, 8, 16};
    float kt[] = {1, 2, 4, 8, 16};
    TEST_CHECK(!strcmp(c->loss.name, "recallk") && c->loss.tau == 0.01 && c->loss.memory == 0 &&
                   c->loss.recallk.n_k == 5 && !memcmp(c->loss.recallk.k, k, sizeof k) &&
                   c->loss.recallk.n_k_temperatures == 5 && !memcmp(c->loss.recallk.k_temperatures, kt, sizeof kt),
               "%s: loss", name);
    const int n_ms = vit ? 3 : 2, ms[3] = {vit ? 10 : 40, vit ? 40 : 70, 70};
    TEST_CHECK(c->schedule.name == APT_SCHED_STEP && c->schedule.epochs == 90 && c->schedule.n_milestones == n_ms &&
                   !memcmp(c->schedule.milestones, ms, (size_t)n_ms * sizeof(int)) && c->schedule.gamma == 0.3,
               "%s: schedule", name);
    int rk[] = {1, 4, 16, 32};
    TEST_CHECK(c->eval.n_recall_k == 4 && !memcmp(c->eval.recall_k, rk, sizeof rk) &&
                   !strcmp(c->eval.protocol, "inaturalist"),
               "%s: eval", name);
}

static void test_shipped(void) {
    char dir[512];
    source_path(dir, sizeof dir, "configs");
    DIR *d = opendir(dir);
    TEST_CHECK(d != NULL, "open %s", dir);
    if (!d) return;
    int count = 0, paper = 0, vit = 0, recallk = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml")) continue;
        if (!strcmp(e->d_name, "published.yaml")) continue; // the leaderboard's data table, not a run config
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        AptConfig c, back;
        apt_config_defaults(&c);
        apt_config_load(&c, path);
        char err[512];
        for (int w = 1; w <= 8; w *= 2) // every shipped config runs on 1, 2, 4 and 8 processes
            TEST_CHECK(apt_config_check(&c, w, err, sizeof err) == 0, "%s at world %d: %s", e->d_name, w,
                       err);
        dump_and_reload(&c, &back, "shipped");
        expect_same(&c, &back, e->d_name);
        if (!strcmp(e->d_name, "quickstart.yaml")) {
            TEST_CHECK(!strcmp(c.data.root, "data/fashion-mnist") && !strcmp(c.model.arch, "smallcnn-flat") &&
                           !strcmp(c.loss.name, "smoothap") && c.model.embed_dim == 128 &&
                           c.device == APT_DEVICE_CPU,
                       "quickstart: Fashion-MNIST, smallcnn, Smooth-AP, 128-d, CPU");
            // Fashion-MNIST has 10 classes: a batch must hold at most 10 distinct ones.
            TEST_CHECK(c.data.batch_size / c.data.samples_per_class <= 10,
                       "quickstart: <= 10 classes per batch");
        } else if (strstr(e->d_name, "_recallk")) {
            check_recallk(&c, e->d_name);
            recallk++;
        } else if (strstr(e->d_name, "_vitb16.yaml")) {
            check_vit(&c, e->d_name);
            vit++;
        } else if (strstr(e->d_name, "inaturalist_") || strstr(e->d_name, "vggface2_")) {
            check_paper(&c, e->d_name);
            paper++;
        }
        count++;
    }
    closedir(d);
    TEST_CHECK(paper == 4, "found %d paper-setting configs, want 4", paper);
    TEST_CHECK(vit == 2, "found %d ViT-B/16 configs, want 2", vit);
    TEST_CHECK(recallk == 2, "found %d Recall@k surrogate configs, want 2", recallk);
    printf("ok   %d shipped configs load, validate for W = 1..8 and round-trip\n", count);
}

int main(void) {
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/apt_test_config_XXXXXX");
    if (!mkdtemp(g_tmpdir)) return 1;
    test_defaults();
    test_all_changed();
    test_awkward();
    test_header();
    test_shipped();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_tmpdir);
    return apt_test_finish("test_config_roundtrip");
}
