// test_e2e_inaturalist.c — the iNaturalist path end to end on the CPU, as a user runs it: a synthetic tree
// in the download's layout (Inat_dataset_splits/Inaturalist_{train,test}_set1.txt, numeric class
// directories, JPEG photos of different sizes) -> `aprep inaturalist` (jpeg storage) -> `aprep verify` ->
// `aptrain CONFIG` (RandomResizedCrop + flip from the original photos, a small CNN, a few steps) ->
// `aptrain eval` of the last checkpoint; the leaderboard (md + json) must be written, with the
// inaturalist protocol's Recall@K and the published figures beside ours.
#include "core/fsutil.h"
#include "harness.h"
#include "imgfiles.h"

#include <math.h>

static void photo(uint8_t *p, int h, int w, int cls, int i) {
    for (int y = 0; y < h; y++) // class-coloured gradients, so a few steps can learn something
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = 60 + 40 * ((cls + c) % 3) + 50 * sin(0.1 * (x + 3 * cls) + 0.07 * y * (c + 1)) +
                           (x * 5 + y * 3 + i) % 17;
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
    fclose(f);
    return s;
}

int main(void) {
    char root[64] = "/tmp/apt_e2e_XXXXXX";
    TEST_CHECK(mkdtemp(root) != NULL, "mkdtemp");
    const char *bin = getenv("APT_BINARY_DIR") ? getenv("APT_BINARY_DIR") : ".";
    const char *srcdir = getenv("APT_SOURCE_DIR") ? getenv("APT_SOURCE_DIR") : "..";
    char inat[256], p[1024], train[8192] = "", test[8192] = "";
    snprintf(inat, sizeof inat, "%s/inat", root);
    // train: 6 classes x 6 photos; test: 3 unseen classes x 4 photos (as in the Smooth-AP split)
    uint8_t *px = malloc(96 * 80 * 3);
    for (int k = 0; k < 9; k++) {
        const int id = 1000 + 37 * k, ntr = k < 6 ? 6 : 4;
        snprintf(p, sizeof p, "%s/train_val2018/%s/%d", inat, k % 2 ? "Aves" : "Plantae", id);
        apt_mkdir_p(p);
        for (int i = 0; i < ntr; i++) {
            int h = 64 + 8 * (i % 3), w = 80 - 8 * (i % 2);
            photo(px, h, w, k, i);
            char rel[256];
            snprintf(rel, sizeof rel, "train_val2018/%s/%d/%d.jpg", k % 2 ? "Aves" : "Plantae", id, i);
            snprintf(p, sizeof p, "%s/%s", inat, rel);
            TEST_CHECK(img_write_jpeg(p, px, h, w) == 0, "write %s", p);
            strcat(k < 6 ? train : test, rel);
            strcat(k < 6 ? train : test, "\n");
        }
    }
    free(px);
    snprintf(p, sizeof p, "%s/Inat_dataset_splits", inat);
    apt_mkdir_p(p);
    snprintf(p, sizeof p, "%s/Inat_dataset_splits/Inaturalist_train_set1.txt", inat);
    txt_write(p, train);
    snprintf(p, sizeof p, "%s/Inat_dataset_splits/Inaturalist_test_set1.txt", inat);
    txt_write(p, test);

    TEST_CHECK(sh("%s/aprep inaturalist --shard-size 16 %s %s/data >/dev/null", bin, inat, root) == 0,
               "aprep inaturalist");
    TEST_CHECK(sh("%s/aprep verify %s/data >/dev/null", bin, root) == 0, "aprep verify");

    char cfg[256], yaml[4096];
    snprintf(cfg, sizeof cfg, "%s/e2e.yaml", root);
    snprintf(yaml, sizeof yaml,
             "run_name: e2e\nout_dir: %s/runs\nseed: 3\ndevice: cpu\n"
             "model: {arch: smallcnn, embed_dim: 16, width: 8, bn: local}\n"
             "data: {root: %s/data, sampler: epoch, batch_size: 8, samples_per_class: 2, threads: 2,\n"
             "       resize: 36, crop: 32, augment: true, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, "
             "0.225]}\n"
             "loss: {name: smoothap, tau: 0.1}\n"
             "optim: {name: adam, lr: 0.001}\n"
             "schedule: {name: constant, max_steps: 6}\n"
             "eval: {every_epochs: 0, recall_k: [1, 4], batch_size: 6, protocol: inaturalist,\n"
             "       published: %s/configs/published.yaml}\n"
             "checkpoint: {every_steps: 3}\n"
             "logging: {every_steps: 2}\n",
             root, root, srcdir);
    txt_write(cfg, yaml);
    TEST_CHECK(sh("cd %s && %s/aptrain %s > %s/train.log 2>&1", root, bin, cfg, root) == 0,
               "aptrain (see %s/train.log)", root);
    TEST_CHECK(
        sh("cd %s && %s/aptrain eval %s --checkpoint %s/runs/e2e/checkpoints/latest.h5 > %s/eval.log 2>&1",
           root, bin, cfg, root, root) == 0,
        "aptrain eval");
    snprintf(p, sizeof p, "%s/runs/e2e/leaderboard.md", root);
    char *md = slurp(p);
    snprintf(p, sizeof p, "%s/runs/e2e/leaderboard.json", root);
    char *js = slurp(p);
    TEST_CHECK(md && js && strstr(md, "R@1") && strstr(md, "R@4") && strstr(md, "Smooth-AP"),
               "leaderboard.md lacks Recall@1/4 or the published Smooth-AP row:\n%s", md ? md : "(missing)");
    if (md) printf("%s\n", md);
    snprintf(p, sizeof p, "%s/eval.log", root);
    char *log = slurp(p);
    if (log) printf("%s", log);
    free(md);
    free(js);
    free(log);
    if (apt_test_failures == 0) apt_rm_rf(root);
    return apt_test_finish("test_e2e_inaturalist");
}
