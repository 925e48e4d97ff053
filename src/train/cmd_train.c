// cmd_train.c — `aptrain CONFIG.yaml [key=value ...]`: config + overrides, communicator, trainer.
#include "trainer.h"

#include "core/check.h"
#include "core/log.h"
#include "test_hooks.h"

#include <string.h>

int apt_train_cmd(int argc, char **argv) {
    AptComm *comm = apt_comm_init_mpi(&argc, &argv); // a singleton without mpirun
    apt_test_hook_after_init(comm->rank);            // APT_TEST_STOP_RANK (tests/launch/test_multinode.sh)
    AptConfig cfg;
    apt_config_defaults(&cfg);
    apt_config_load(&cfg, argv[0]);
    for (int i = 1; i < argc; i++) {
        if (!strchr(argv[i], '='))
            apt_exit(APT_EXIT_USAGE, "argument '%s' is not a key=value override (aptrain --help)", argv[i]);
        apt_config_override(&cfg, argv[i]);
    }
    int ok = 0;
    AptLogLevel level = apt_log_level_parse(cfg.logging.level, &ok);
    apt_log_init(comm->rank, ok ? level : APT_LOG_INFO, cfg.logging.all_ranks);
    AptTrainer *t = apt_trainer_create(&cfg, comm, NULL);
    int rc = apt_trainer_run(t);
    apt_trainer_destroy(t);
    apt_comm_finalize(comm);
    return rc;
}
