// main.c — the `aptrain` command line: dispatch to a subcommand; nothing else.
#include "config/config.h"
#include "core/check.h"
#include "eval/eval.h"
#include "loss/loss.h"
#include "train/trainer.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: aptrain CONFIG.yaml [key=value ...]        train (1 process or under mpirun/srun)\n"
            "       aptrain eval CONFIG.yaml --checkpoint FILE  evaluate a checkpoint\n"
            "       aptrain check CONFIG.yaml [key=value ...] [--world N]   find problems before a run\n"
            "       aptrain export CHECKPOINT.h5 OUT.safetensors  weights with torchvision names\n"
            "       aptrain loss --loss NAME [--tau T] [--alpha A] [--b B] [--exclude-self] [--k K1,K2,...]\n"
            "                    [--k-temperatures T1,T2,...] IN.h5 OUT.h5\n"
            "       aptrain --help | --help-config | --version\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return APT_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--help-config")) {
        apt_config_print_help();
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("aptrain %s\n", APT_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "loss")) return apt_loss_cmd(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return apt_eval_cmd(argc - 1, argv + 1);
    if (!strcmp(cmd, "check")) return apt_check_cmd(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return apt_export_cmd(argc - 1, argv + 1);
    size_t n = strlen(cmd);
    if ((n > 5 && !strcmp(cmd + n - 5, ".yaml")) || (n > 4 && !strcmp(cmd + n - 4, ".yml")))
        return apt_train_cmd(argc - 1, argv + 1);
    fprintf(stderr, "aptrain: unknown command '%s'\n", cmd);
    usage(stderr);
    return APT_EXIT_USAGE;
}
