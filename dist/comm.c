// comm.c — bootstrap: MPI_Init_thread, error handler, node-local rank, abort hook, host scalars.
#include "comm.h"

#include "../src/core/log.h"
#include "mpi_check.h"

#include <stdlib.h>

AptComm *apt_comm_mpi_create(int rank, int world, int local_rank, int local_world);

static int g_mpi_world = 1; // process identity for the abort hook

// Installed as apt_fatal's abort hook: a lone exit() would leave the other ranks hanging in a collective.
static void mpi_abort_hook(int code) {
    if (g_mpi_world > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

AptComm *apt_comm_init_mpi(int *argc, char ***argv) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            apt_exit(APT_EXIT_INTERNAL, "MPI_Init_thread failed");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, world = 1;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world));
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node));
    int local_rank = 0, local_world = 1;
    MPI_CHECK(MPI_Comm_rank(node, &local_rank));
    MPI_CHECK(MPI_Comm_size(node, &local_world));
    MPI_CHECK(MPI_Comm_free(&node));
    g_mpi_world = world;
    apt_set_identity(rank, world);
    apt_set_abort_hook(mpi_abort_hook);
    return apt_comm_mpi_create(rank, world, local_rank, local_world);
}

void apt_comm_finalize(AptComm *c) {
    int is_mpi = c && c->name[0] == 'm';
    if (c) c->destroy(c);
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (is_mpi && inited && !finalized) MPI_Finalize();
}

double apt_comm_sum_host(AptComm *c, double v) {
    AptComm *h = c->host ? c->host : c;
    h->allreduce(h, &v, 1, APT_F64, APT_SUM);
    return v;
}

double apt_comm_max_host(AptComm *c, double v) {
    AptComm *h = c->host ? c->host : c;
    h->allreduce(h, &v, 1, APT_F64, APT_MAX);
    return v;
}
