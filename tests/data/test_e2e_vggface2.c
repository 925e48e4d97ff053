// test_e2e_vggface2.c — the VGGFace2 face-retrieval path end to end on the CPU, as a user runs it: a
// synthetic tree in the download's layout (train/ and test/ identity directories n000xxx/ of JPEG
// photos, train_list.txt / test_list.txt, bb_landmark/loose_bb_{train,test}.csv with the header and
// quoted NAME_IDs of the release) -> `aprep vggface2 --storage jpeg` (each photo cropped to its loose box)
// -> `aprep verify` -> `aptrain CONFIG` (senet50 at 64×64, the released models' preprocessing:
// data.preprocess vggface2, RandomResizedCrop + flip, a few steps) -> `aptrain eval` of the last
// checkpoint; the leaderboard (md + json) must be written with the vggface2 protocol's Recall@K, mAP and
// the published Smooth-AP row.
#include "core/fsutil.h"
#include "harness.h"
#include "imgfiles.h"

#include <math.h>

// A "face": an identity-coloured ellipse inside the loose box, background noise outside it.
static void photo(uint8_t *p, int h, int w, const int box[4], int id, int i) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double u = (x - (box[0] + box[2] / 2.0)) / (box[2] / 2.0),
                   v = (y - (box[1] + box[3] / 2.0)) / (box[3] / 2.0);
            int in = u * u + v * v < 0.8;
            for (int c = 0; c < 3; c++) {
                double val = in ? 70 + 50 * ((id + c) % 3) + 30 * sin(0.2 * x + 0.1 * y * (c + 1) + id)
                                : (x * 7 + y * 13 + i * 5 + c * 11) % 200;
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val);
            }
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
    char root[64] = "/tmp/apt_e2e_vgg_XXXXXX";
    TEST_CHECK(mkdtemp(root) != NULL, "mkdtemp");
    const char *bin = getenv("APT_BINARY_DIR") ? getenv("APT_BINARY_DIR") : ".";
    const char *srcdir = getenv("APT_SOURCE_DIR") ? getenv("APT_SOURCE_DIR") : "..";
    char vgg[256], p[1024];
    static char list[2][8192], csv[2][16384];
    snprintf(vgg, sizeof vgg, "%s/vggface2", root);
    // train: 4 identities x 6 photos; test: 3 unseen identities x 4 photos (train_list / test_list)
    for (int k = 0; k < 2; k++)
        strcpy(csv[k], "NAME_ID,X,Y,W,H\n");
    uint8_t *px = malloc(120 * 110 * 3);
    for (int k = 0; k < 7; k++) {
        const int s = k < 4 ? 0 : 1, n = s ? 4 : 6, id = 2 + 17 * k;
        const char *split = s ? "test" : "train";
        snprintf(p, sizeof p, "%s/%s/n%06d", vgg, split, id);
        apt_mkdir_p(p);
        for (int i = 0; i < n; i++) {
            int h = 100 + 10 * (i % 3), w = 110 - 8 * (i % 2);
            int box[4] = {8 + 3 * (i % 4), 6 + 2 * (i % 3), 70 + 4 * (i % 2), 80 + 3 * (i % 3)};
            photo(px, h, w, box, k, i);
            char rel[64], line[320];
            snprintf(rel, sizeof rel, "n%06d/%04d_%02d", id, 1 + i, 1 + i % 2);
            snprintf(p, sizeof p, "%s/%s/%s.jpg", vgg, split, rel);
            TEST_CHECK(img_write_jpeg(p, px, h, w) == 0, "write %s", p);
            snprintf(line, sizeof line, "%s.jpg\n", rel);
            strcat(list[s], line);
            snprintf(line, sizeof line, "\"%s\",%d,%d,%d,%d\n", rel, box[0], box[1], box[2], box[3]);
            strcat(csv[s], line);
        }
    }
    free(px);
    snprintf(p, sizeof p, "%s/bb_landmark", vgg);
    apt_mkdir_p(p);
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s_list.txt", vgg, s ? "test" : "train");
        txt_write(p, list[s]);
        snprintf(p, sizeof p, "%s/bb_landmark/loose_bb_%s.csv", vgg, s ? "test" : "train");
        txt_write(p, csv[s]);
    }

    TEST_CHECK(sh("%s/aprep vggface2 --storage jpeg --shard-size 16 %s %s/data > %s/aprep.log 2>&1", bin, vgg,
                  root, root) == 0,
               "aprep vggface2 (see %s/aprep.log)", root);
    snprintf(p, sizeof p, "%s/aprep.log", root);
    char *alog = slurp(p);
    TEST_CHECK(alog && !strstr(alog, "no box"), "aprep: every photo has its loose box:\n%s",
               alog ? alog : "");
    free(alog);
    TEST_CHECK(sh("%s/aprep verify %s/data >/dev/null", bin, root) == 0, "aprep verify");

    char cfg[256], yaml[4096];
    snprintf(cfg, sizeof cfg, "%s/e2e.yaml", root);
    snprintf(yaml, sizeof yaml,
             "run_name: e2e\nout_dir: %s/runs\nseed: 3\ndevice: cpu\n"
             "model: {arch: senet50, embed_dim: 16, bn: frozen}\n"
             "data: {root: %s/data, sampler: epoch, batch_size: 8, samples_per_class: 2, threads: 2,\n"
             "       resize: 72, crop: 64, augment: true, preprocess: vggface2}\n"
             "loss: {name: smoothap, tau: 0.1}\n"
             "optim: {name: adam, lr: 1e-5, weight_decay: 4e-4, fc_lr_mul: 2}\n"
             "schedule: {name: constant, max_steps: 4}\n"
             "eval: {every_epochs: 0, recall_k: [1, 5], batch_size: 6, protocol: vggface2,\n"
             "       published: %s/configs/published.yaml}\n"
             "checkpoint: {every_steps: 2}\n"
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
    TEST_CHECK(
        md && js && strstr(md, "R@1") && strstr(md, "R@5") && strstr(md, "mAP") && strstr(md, "Smooth-AP"),
        "leaderboard.md lacks Recall@1/5, mAP or the published Smooth-AP row:\n%s", md ? md : "(missing)");
    if (md) printf("%s\n", md);
    snprintf(p, sizeof p, "%s/runs/e2e/config.yaml", root);
    char *resolved = slurp(p);
    TEST_CHECK(resolved && strstr(resolved, "senet50") && strstr(resolved, "preprocess: vggface2"),
               "resolved config lacks senet50 / preprocess: vggface2");
    snprintf(p, sizeof p, "%s/eval.log", root);
    char *log = slurp(p);
    if (log) printf("%s", log);
    free(md);
    free(js);
    free(log);
    free(resolved);
    if (apt_test_failures == 0) apt_rm_rf(root);
    return apt_test_finish("test_e2e_vggface2");
}
