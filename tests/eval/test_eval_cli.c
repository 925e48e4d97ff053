// test_eval_cli.c — `aptrain eval CONFIG.yaml --checkpoint FILE` end to end, as 1 process and under
// mpirun -np 2: the checkpoint's weights are used (they differ from the seed's init), embeddings_test.h5
// holds each sample's embedding (vs an independent single-sample forward of the checkpointed model on
// the test's own (v / 255 - mean) / std input,
// within 1e-5: float32 batch-composition noise ~1e-7, a wrong weight or sample is O(1)), the 2-rank run
// gives the 1-rank per-query results (bitwise when the embeddings are bitwise equal), the leaderboard
// names the checkpoint's step, and usage/user errors exit 2/1.
#define _GNU_SOURCE
#include "backend/backend.h"
#include "ckpt/checkpoint.h"
#include "core/check.h"
#include "core/fsutil.h"
#include "data/synth.h"
#include "eval/eval.h"
#include "harness.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

enum { N = 50, H = 8, W = 8, C = 1, K = 5, D = 16 };

static void *read_all(const char *path, const char *name, hid_t type, size_t elem, size_t *n) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = H5Dget_space(d);
    *n = (size_t)H5Sget_simple_extent_npoints(sp);
    void *buf = malloc(*n * elem + 1);
    H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return buf;
}

static int run(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = calloc(1, 1 << 16);
    size_t n = fread(b, 1, (1 << 16) - 1, f);
    b[n] = 0;
    fclose(f);
    return b;
}

int main(void) {
    const char *src = getenv("APT_SOURCE_DIR"), *bin = getenv("APT_BINARY_DIR");
    if (!src || !bin) {
        printf("skip: needs APT_SOURCE_DIR and APT_BINARY_DIR\n");
        return 77;
    }
    char dir[] = "/tmp/apt_evcli_XXXXXX";
    APT_CHECK(mkdtemp(dir), "mkdtemp");
    char data[4096], cfgp[4096], ck[4096], cmd[16384], p[4096];
    apt_path_join(data, sizeof data, dir, "data");
    apt_path_join(cfgp, sizeof cfgp, dir, "eval.yaml");
    apt_path_join(ck, sizeof ck, dir, "ck.h5");
    int32_t labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = (i * 3) % K;
    synth_write(data, "test", N, H, W, C, K, labels, 16);
    FILE *f = fopen(cfgp, "w");
    fprintf(f,
            "run_name: r1\nout_dir: %s/runs\nseed: 3\ndevice: cpu\n"
            "model: {arch: smallcnn, embed_dim: %d, width: 4, bn: frozen}\n"
            "data: {root: %s, test_split: test, threads: 1, mean: [0.25], std: [0.5]}\n"
            "eval: {recall_k: [1, 2, 4], batch_size: 8, block: 16, protocol: fashion-mnist,\n"
            "       published: %s/configs/published.yaml, save_embeddings: true, save_per_query: true}\n",
            dir, D, data, src);
    fclose(f);

    // A checkpoint whose weights are not the seed's init: perturb every parameter.
    AptConfig cfg;
    apt_config_defaults(&cfg);
    apt_config_load(&cfg, cfgp);
    AptBackend *be = apt_backend_create("cpu");
    AptComm *self = apt_comm_create_self();
    AptModel *m = apt_model_create(&cfg.model, be, self, 8, C, H, W, cfg.seed);
    AptParamStore *ps = apt_model_params(m);
    for (size_t i = 0; i < ps->numel; i++)
        ps->w[i] += 0.05f * (float)sin(1.7 * (double)i);
    AptCkptMeta meta = {.step = 77, .epoch = 2, .seed = cfg.seed, .world_size = 1};
    apt_checkpoint_save(ck, ps, &meta, NULL);
    float *Eref = malloc(N * D * sizeof *Eref), x[C * H * W];
    for (int i = 0; i < N; i++) {
        for (int b = 0; b < C * H * W; b++)
            x[b] = (synth_pixel(i, (size_t)b) / 255.0f - 0.25f) / 0.5f; // C = 1: HWC = CHW
        apt_model_forward(m, x, 1, Eref + i * D, false);
    }

    snprintf(cmd, sizeof cmd, "cd %s && %s/aptrain eval %s --checkpoint %s", dir, bin, cfgp, ck);
    TEST_CHECK(run(cmd) == 0, "1 process: %s", cmd);
    snprintf(cmd, sizeof cmd,
             "cd %s && mpirun --oversubscribe -np 2 %s/aptrain eval %s --checkpoint %s run_name=r2", dir, bin,
             cfgp, ck);
    TEST_CHECK(run(cmd) == 0, "2 ranks: %s", cmd);

    size_t n1 = 0, n2 = 0, na = 0, nb = 0;
    snprintf(p, sizeof p, "%s/runs/r1/embeddings_test.h5", dir);
    float *E1 = read_all(p, "embeddings", H5T_NATIVE_FLOAT, 4, &n1);
    snprintf(p, sizeof p, "%s/runs/r2/embeddings_test.h5", dir);
    float *E2 = read_all(p, "embeddings", H5T_NATIVE_FLOAT, 4, &n2);
    TEST_CHECK(E1 && E2 && n1 == N * D && n2 == N * D, "embeddings files [N, D]");
    if (E1 && E2 && n1 == N * D && n2 == N * D) {
        expect_close_f(E1, Eref, N * D, 0, 1e-5,
                       "1-rank embeddings vs single-sample forward of the checkpoint");
        expect_close_f(E2, E1, N * D, 0, 1e-5, "2-rank embeddings vs 1-rank");
        snprintf(p, sizeof p, "%s/runs/r1/per_query_test.h5", dir);
        double *a1 = read_all(p, "ap", H5T_NATIVE_DOUBLE, 8, &na);
        snprintf(p, sizeof p, "%s/runs/r2/per_query_test.h5", dir);
        double *a2 = read_all(p, "ap", H5T_NATIVE_DOUBLE, 8, &nb);
        TEST_CHECK(a1 && a2 && na == N && nb == N, "per-query files");
        if (!memcmp(E1, E2, n1 * 4))
            TEST_CHECK(a1 && a2 && !memcmp(a1, a2, N * 8), "bitwise-equal embeddings, equal AP");
        else
            printf("note: 1- and 2-rank embeddings differ in the last bits (batch composition of the "
                   "forward); per-query AP not compared bitwise\n");
        free(a1);
        free(a2);
    }
    // The seed's init would give other embeddings: the checkpoint was really loaded.
    AptModel *fresh = apt_model_create(&cfg.model, be, self, 8, C, H, W, cfg.seed);
    float E0[D];
    for (int b = 0; b < C * H * W; b++)
        x[b] = (synth_pixel(0, (size_t)b) / 255.0f - 0.25f) / 0.5f;
    apt_model_forward(fresh, x, 1, E0, false);
    double d0 = 0;
    for (int d = 0; d < D; d++)
        d0 = fmax(d0, fabs((double)E0[d] - Eref[d]));
    TEST_CHECK(d0 > 1e-3, "perturbed weights change the embedding (%.3g)", d0);

    snprintf(p, sizeof p, "%s/runs/r1/leaderboard.md", dir);
    char *md = slurp(p);
    TEST_CHECK(md && strstr(md, "step 77") && strstr(md, "No published figures") &&
                   strstr(md, "| R@1 | R@2 | R@4 |"),
               "leaderboard.md: %s", md ? md : "(missing)");
    snprintf(p, sizeof p, "%s/runs/r2/leaderboard.json", dir);
    char *js = slurp(p);
    TEST_CHECK(js && strstr(js, "\"world_size\": 2") && strstr(js, "\"step\": 77"),
               "leaderboard.json of the 2-rank run");
    free(md);
    free(js);

    snprintf(cmd, sizeof cmd, "%s/aptrain eval %s 2>/dev/null", bin, cfgp);
    TEST_CHECK(run(cmd) == APT_EXIT_USAGE, "no --checkpoint: usage error");
    snprintf(cmd, sizeof cmd, "%s/aptrain eval %s --checkpoint %s/nope.h5 2>/dev/null", bin, cfgp, dir);
    TEST_CHECK(run(cmd) == APT_EXIT_USER, "missing checkpoint: user error");

    apt_model_destroy(m);
    apt_model_destroy(fresh);
    apt_backend_destroy(be);
    self->destroy(self);
    free(Eref);
    free(E1);
    free(E2);
    apt_rm_rf(dir);
    return apt_test_finish("test_eval_cli");
}
