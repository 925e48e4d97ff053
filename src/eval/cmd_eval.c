// cmd_eval.c — `aptrain eval CONFIG.yaml --checkpoint FILE [key=value ...]` (DESIGN §5): evaluate a
// checkpoint on the config's test split, on any world size (1 process, mpirun, srun), and write the
// leaderboard in the config's run directory (out_dir/run_name).
#include "backend/backend.h"
#include "ckpt/checkpoint.h"
#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "data/input_shape.h"
#include "data/manifest.h"
#include "eval/eval.h"

#include <stdio.h>
#include <string.h>

static const char *device_name(AptDevice d) {
    return d == APT_DEVICE_CPU ? "cpu" : d == APT_DEVICE_CUDA ? "cuda" : "auto";
}

int apt_eval_cmd(int argc, char **argv) {
    const char *config = NULL, *ckpt = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--checkpoint")) {
            if (i + 1 >= argc) apt_exit(APT_EXIT_USAGE, "aptrain eval: --checkpoint needs a file");
            ckpt = argv[++i];
        } else if (!strchr(argv[i], '=') && !config) {
            config = argv[i];
        } else if (!strchr(argv[i], '=')) {
            apt_exit(APT_EXIT_USAGE, "aptrain eval: unexpected argument '%s'", argv[i]);
        }
    }
    if (!config || !ckpt)
        apt_exit(APT_EXIT_USAGE, "usage: aptrain eval CONFIG.yaml --checkpoint FILE [key=value ...]");

    AptComm *comm = apt_comm_init_mpi(&argc, &argv);
    AptConfig cfg;
    apt_config_defaults(&cfg);
    apt_config_load(&cfg, config);
    for (int i = 1; i < argc; i++)
        if (strchr(argv[i], '=') && strcmp(argv[i - 1], "--checkpoint")) apt_config_override(&cfg, argv[i]);
    int ok = 1;
    AptLogLevel level = apt_log_level_parse(cfg.logging.level, &ok);
    apt_log_init(comm->rank, ok ? level : APT_LOG_INFO, cfg.logging.all_ranks);
    if (!apt_path_exists(ckpt)) apt_user_error("%s: checkpoint not found (--checkpoint)", ckpt);

    char run_dir[4096];
    apt_path_join(run_dir, sizeof run_dir, cfg.out_dir, cfg.run_name);

    // Input shape of the eval transforms: center crop, else the (resized) stored size.
    AptManifest *man = apt_manifest_load(cfg.data.root, cfg.data.test_split);
    int C, H, W;
    apt_input_shape_config(&cfg.data, man, &C, &H, &W);
    apt_manifest_free(man);

    AptBackend *be = apt_backend_create_on(device_name(cfg.device), comm->local_rank); // device = local rank
    AptModelConfig mc = cfg.model;
    mc.pretrained[0] = 0; // the checkpoint holds every weight
    const int fwd_max = cfg.eval.batch_size;
    // At the run's precision: a bf16 run is evaluated through the same bf16 activation chain it trained
    // and evaluated with (the checkpoint holds fp32 masters either way).
    AptModel *model = apt_model_create_ex(&mc, be, comm, fwd_max, C, H, W, cfg.seed, cfg.precision == APT_PREC_BF16);
    AptCkptMeta meta;
    apt_checkpoint_load(ckpt, apt_model_params(model), &meta, NULL);
    apt_info("eval: %s step %ld on %s/%s, %d rank(s)", ckpt, meta.step, cfg.data.root, cfg.data.test_split,
             comm->world);

    AptEvalContext *ev = apt_eval_create(&cfg, comm, run_dir, fwd_max);
    AptEvalResult r;
    apt_eval_run(ev, model, meta.step, ckpt, &r);
    if (comm->rank == 0) {
        printf("eval:");
        for (int i = 0; i < r.n; i++)
            printf(" %s %.4f", r.names[i], r.values[i]);
        printf("\nleaderboard: %s/leaderboard.md\n", run_dir);
        fflush(stdout);
    }
    apt_eval_destroy(ev);
    apt_model_destroy(model);
    apt_backend_destroy(be);
    apt_comm_finalize(comm);
    return APT_EXIT_OK;
}
