// cmd_check.c — `aptrain check CONFIG.yaml [key=value ...] [--world N]`: look for everything that would
// stop or spoil a run before it starts, one line per problem (exit 1 if any, 0 if none):
//   the config (file, overrides, cross-field rules for world size N), the train and test splits
//   (manifest present and well-formed), class counts against the sampler (B/m classes with >= m samples),
//   the pretrained weights (names and shapes against the model), the run directory (writable); and an
//   estimate of the memory one rank needs (parameters, gradients, optimizer state, activations).
// Each check that reads files runs in a forked child: the readers report a bad file with one line and
// exit (apt_user_error), and the check goes on with the next one. World size: --world N, else the
// launcher's (OMPI_COMM_WORLD_SIZE, SLURM_NTASKS), else 1.
#include "trainer.h"

#include "backend/backend.h"
#include "config/config.h"
#include "core/check.h"
#include "core/fsutil.h"
#include "h5/h5check.h"
#include "data/manifest.h"
#include "nn/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int g_problems;

// Run fn(cfg, arg) in a child; its stdout/stderr lines become our lines. A nonzero exit is a problem.
// Returns true when the check passed.
static bool in_child(const char *what, void (*fn)(const AptConfig *, const void *), const AptConfig *cfg,
                     const void *arg) {
    int fd[2];
    if (pipe(fd) != 0) apt_fatal(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], STDOUT_FILENO);
        dup2(fd[1], STDERR_FILENO);
        apt_set_program_name("check");
        fn(cfg, arg);
        fflush(NULL);
        _exit(0);
    }
    close(fd[1]);
    FILE *in = fdopen(fd[0], "r");
    char line[4096];
    while (in && fgets(line, sizeof line, in)) fputs(line, stdout);
    if (in) fclose(in);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        g_problems++;
        if (!WIFEXITED(st)) printf("check: %s: the check crashed (signal %d)\n", what, WTERMSIG(st));
        return false;
    }
    return true;
}

// The input shape the trainer will use (trainer.c input_shape).
static void input_shape(const AptConfig *cfg, const AptManifest *m, int *C, int *H, int *W) {
    *C = m->channels;
    *H = cfg->data.crop > 0 ? cfg->data.crop : cfg->data.resize > 0 ? cfg->data.resize : m->height;
    *W = cfg->data.crop > 0 ? cfg->data.crop : cfg->data.resize > 0 ? cfg->data.resize : m->width;
}

static void check_split(const AptConfig *cfg, const void *arg) {
    const char *split = arg;
    AptManifest *m = apt_manifest_load(cfg->data.root, split);
    int mper = cfg->data.samples_per_class, need = cfg->data.batch_size / mper, enough = 0;
    for (int k = 0; k < m->num_classes; k++) enough += m->class_count[k] >= mper;
    printf("check: ok: %s split: %lld samples, %d classes, %dx%dx%d %s, %d shards\n", split,
           (long long)m->num_samples, m->num_classes, m->height, m->width, m->channels, apt_storage_name(m->storage),
           m->num_shards);
    if (!strcmp(split, cfg->data.train_split) && enough < need) {
        printf("check: data.batch_size %d with data.samples_per_class %d draws %d classes per batch, but only %d of "
               "the %d classes of %s have >= %d samples\n",
               cfg->data.batch_size, mper, need, enough, m->num_classes, m->path, mper);
        fflush(stdout);
        _exit(1);
    }
    apt_manifest_free(m);
}

// Build the model (deterministic init, then model.pretrained if set) and report its memory: training
// (the model planned for the images of one forward: train.chunk when set, as trainer.c does) and the
// evaluation of the test split (eval.c: gallery, score block, per-query results; knn.h, embed.c).
static void check_model(const AptConfig *cfg, const void *arg) {
    int world = *(const int *)arg;
    AptManifest *m = apt_manifest_load(cfg->data.root, cfg->data.train_split);
    int C, H, W;
    input_shape(cfg, m, &C, &H, &W);
    apt_manifest_free(m);
    int b = cfg->data.batch_size / (world > 0 ? world : 1);
    const int fwd = cfg->train.chunk > 0 && cfg->train.chunk < b ? cfg->train.chunk : b; // trainer.c t->chunk
    AptBackend *be = apt_backend_create("cpu");
    AptComm *comm = apt_comm_create_self();
    // At the run's precision: bf16 halves the activation arena the estimate below reports.
    AptModel *model = apt_model_create_ex(&cfg->model, be, comm, fwd, C, H, W, cfg->seed, cfg->precision == APT_PREC_BF16);
    AptParamStore *ps = apt_model_params(model);
    double mib = 1048576.0;
    // fp32 weights, gradients and two optimizer moments (Adam; SGD momentum: one), plus BN buffers.
    int moments = cfg->optim.name == APT_OPT_SGD ? (cfg->optim.momentum > 0) : 2;
    double params = (double)ps->numel * 4.0 * (2 + moments) + (double)ps->buffers_numel * 4.0;
    double acts = (double)apt_model_activation_bytes(model);
    int B = cfg->data.batch_size, D = apt_model_embed_dim(model);
    double loss = 4.0 * ((double)B * D * 2 + (double)b * B * 4); // E, dE [B, D]; similarities/sigmoids [b, B]
    double input = 4.0 * (double)b * C * H * W; // the rank's uploaded slice [b, C, H, W] (both passes read it)
    if (cfg->model.pretrained[0]) printf("check: ok: model.pretrained %s matches %s\n", cfg->model.pretrained, cfg->model.arch);
    char fwd_note[64] = "";
    if (fwd < b) snprintf(fwd_note, sizeof fwd_note, ", train.chunk %d", fwd);
    printf("check: ok: estimated memory per rank (b = %d of B = %d%s, %dx%dx%d inputs): %.0f MiB = parameters, "
           "gradients, optimizer state %.0f MiB (%zu parameters) + activations %.0f MiB + input slice %.0f MiB + loss "
           "%.0f MiB, plus the loader's batches in flight\n",
           b, B, fwd_note, C, H, W, (params + acts + input + loss) / mib, params / mib, ps->numel, acts / mib,
           input / mib, loss / mib);
    // Evaluation: every rank holds the whole gallery E [N, D] fp32, plus, while embed.c all-gathers it, its
    // padded share and the gather buffer (another N x D); one score block [eval.block, N] fp32 (knn.h);
    // per query AP, AP@R, first rank and positive count (32 bytes), and the top-k ids with
    // eval.save_per_query. The model forwards the same fwd images per call as in training.
    if (strcmp(cfg->data.test_split, cfg->data.train_split) != 0 && apt_path_exists(cfg->data.root)) {
        AptManifest *t = apt_manifest_load(cfg->data.root, cfg->data.test_split);
        const double N = (double)t->num_samples, share = N / (world > 0 ? world : 1);
        apt_manifest_free(t);
        int kmax = 1;
        for (int i = 0; i < cfg->eval.n_recall_k; i++) kmax = cfg->eval.recall_k[i] > kmax ? cfg->eval.recall_k[i] : kmax;
        const int block = cfg->eval.block > 0 ? cfg->eval.block : 128; // knn.c knn_block
        const double gallery = 4.0 * N * D * 2 + 4.0 * share * D, scores = 4.0 * block * N,
                     perq = N * (32.0 + (cfg->eval.save_per_query ? 8.0 * kmax : 0));
        printf("check: ok: estimated evaluation memory per rank (test split N = %.0f, D = %d): %.0f MiB = "
               "embeddings %.0f MiB (gallery N x D, and its all-gather copy while gathering) + score block %.0f MiB "
               "(eval.block %d x N) + per-query results %.0f MiB, besides the parameters and activations above\n",
               N, D, (gallery + scores + perq) / mib, gallery / mib, scores / mib, block, perq / mib);
    }
    apt_model_destroy(model);
}

static void check_run_dir(const AptConfig *cfg, const void *arg) {
    (void)arg;
    char dir[4096], probe[4200];
    apt_path_join(dir, sizeof dir, cfg->out_dir, cfg->run_name);
    bool existed = apt_path_exists(dir);
    if (apt_mkdir_p(dir) != 0) {
        printf("check: run directory %s cannot be created: %s\n", dir, strerror(errno));
        fflush(stdout);
        _exit(1);
    }
    snprintf(probe, sizeof probe, "%s/.check.%d", dir, (int)getpid());
    FILE *f = fopen(probe, "w");
    if (!f || fputs("probe\n", f) < 0 || fclose(f) != 0) {
        printf("check: run directory %s is not writable: %s\n", dir, strerror(errno));
        fflush(stdout);
        _exit(1);
    }
    unlink(probe);
    if (!existed) rmdir(dir);
    char latest[4300];
    snprintf(latest, sizeof latest, "%s/checkpoints/latest.h5", dir);
    printf("check: ok: run directory %s writable%s\n", dir,
           apt_path_exists(latest) ? (strcmp(cfg->resume, "never") ? " (resume: continues from checkpoints/latest.h5)"
                                                                   : " (resume: never will overwrite latest.h5)")
                                   : "");
}

static int launcher_world(void) {
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v) v = getenv("SLURM_NTASKS");
    return v && atoi(v) > 0 ? atoi(v) : 1;
}

int apt_check_cmd(int argc, char **argv) {
    if (argc < 2) apt_exit(APT_EXIT_USAGE, "usage: aptrain check CONFIG.yaml [key=value ...] [--world N]");
    int world = launcher_world();
    AptConfig cfg;
    apt_config_defaults(&cfg);
    apt_config_load(&cfg, argv[1]); // a config error is one line and the end: nothing else can be checked
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--world") && i + 1 < argc) {
            world = atoi(argv[++i]);
            if (world < 1) apt_exit(APT_EXIT_USAGE, "--world: expected a positive integer, got '%s'", argv[i]);
        } else if (strchr(argv[i], '=')) {
            apt_config_override(&cfg, argv[i]);
        } else {
            apt_exit(APT_EXIT_USAGE, "argument '%s' is neither key=value nor --world N", argv[i]);
        }
    }
    apt_h5_init();
    char err[1024];
    if (apt_config_check(&cfg, world, err, sizeof err) != 0) {
        printf("check: config: %s\n", err);
        g_problems++;
    } else {
        printf("check: ok: config %s for world size %d\n", argv[1], world);
    }
    bool train_ok = in_child("train split", check_split, &cfg, cfg.data.train_split);
    if (strcmp(cfg.data.test_split, cfg.data.train_split) != 0 && apt_path_exists(cfg.data.root))
        in_child("test split", check_split, &cfg, cfg.data.test_split);
    if (train_ok) in_child("model", check_model, &cfg, &world); // needs the input shape of the train split
    in_child("run directory", check_run_dir, &cfg, NULL);
    if (g_problems) printf("check: %d problem%s\n", g_problems, g_problems > 1 ? "s" : "");
    else printf("check: no problems found\n");
    return g_problems ? APT_EXIT_USER : APT_EXIT_OK;
}
