// comm.c — bootstrap: MPI_Init_thread, error handler, node-local rank, abort hook, host scalars.
#include "comm.h"

#include "../src/core/log.h"
#include "mpi_check.h"

#include <stdlib.h>

AptComm *apt_comm_mpi_create(int rank, int world, int local_rank, int local_world);

static int g_mpi_world = 1; // process identity for the abort hook
// Device communicators to abort first (ncclCommAbort), registered by comm_nccl.c (a trainer on NCCL holds
// two: one for E/dE/BN sums, one for gradient buckets); process-wide like the hook itself, since
// apt_fatal can fire anywhere.
#define APT_DEVICE_ABORT_MAX 4
static struct {
    void (*fn)(void *);
    void *arg;
} g_device_abort[APT_DEVICE_ABORT_MAX];

// Installed as apt_fatal's abort hook: a lone exit() would leave the other ranks hanging in a collective.
// Order: abort the device communicator (its kernels may be spinning on a peer that will never answer,
// and ncclCommAbort is what releases them), then MPI_Abort takes every rank down.
static void comm_abort_hook(int code) {
    for (int i = 0; i < APT_DEVICE_ABORT_MAX; i++) {
        void (*dev)(void *) = g_device_abort[i].fn;
        g_device_abort[i].fn = NULL; // once: if a device abort itself fails fatally, the re-entry goes on
        if (dev) dev(g_device_abort[i].arg);
    }
    if (g_mpi_world > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

void apt_comm_set_device_abort(void (*fn)(void *), void *arg) {
    int free_slot = -1;
    for (int i = 0; i < APT_DEVICE_ABORT_MAX; i++) {
        if (!fn && (!arg || g_device_abort[i].arg == arg)) g_device_abort[i].fn = NULL, g_device_abort[i].arg = NULL;
        if (fn && g_device_abort[i].fn && g_device_abort[i].arg == arg) { // re-registration: update
            g_device_abort[i].fn = fn;
            return;
        }
        if (fn && !g_device_abort[i].fn && free_slot < 0) free_slot = i;
    }
    if (!fn) return;
    APT_CHECK(free_slot >= 0, "more than %d device communicators registered for abort", APT_DEVICE_ABORT_MAX);
    g_device_abort[free_slot].fn = fn;
    g_device_abort[free_slot].arg = arg;
    apt_set_abort_hook(comm_abort_hook); // also without MPI (a 1-rank NCCL communicator over comm_self)
}

int apt_comm_launched(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

AptComm *apt_comm_init_auto(int *argc, char ***argv) {
    return apt_comm_launched() ? apt_comm_init_mpi(argc, argv) : apt_comm_create_self();
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
    apt_set_abort_hook(comm_abort_hook);
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

double apt_comm_test_bucket_premul(void) {
    const char *e = getenv("APT_TEST_BUCKET_PREMUL");
    double f = e ? atof(e) : 1.0;
    return f > 0 ? f : 1.0;
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
