// agree.c — see agree.h.
#include "agree.h"

#include "core/check.h"
#include "core/log.h"
#include "test_hooks.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { FIELD = 16, HOSTLEN = 64, IDLEN = 32, NKIND = 3 };

static int32_t code(const char *s) { // FNV-1a: equal strings, equal codes (a collision only hides a mismatch)
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return (int32_t)(h & 0x7fffffff);
}

// Rank 0 reports and its abort ends every rank (one line, not one per rank); the others wait for it, as
// nan_policy.c does, and leave with the same status should a launcher not pass the abort on.
static _Noreturn void refuse(AptComm *h, const char *msg) {
    if (h->rank == 0) apt_user_error("%s", msg);
    for (int i = 0; i < 200; i++)
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    apt_user_error("stopping with rank 0, which reports a set-up mismatch between ranks (its abort did not end "
                   "this rank within 10 s)");
}

_Noreturn void apt_agree_refuse(AptComm *comm, const char *fmt, ...) {
    char msg[2000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    refuse(comm->host ? comm->host : comm, msg);
}

// "0-2,5": the ranks r whose field (rows of `stride` bytes in `all`, at offset `off`) equals `val`.
static void ranks_with(char *out, size_t cap, const char *all, int world, size_t stride, size_t off,
                       const char *val, size_t len, int *count) {
    size_t k = 0;
    *count = 0;
    out[0] = 0;
    for (int r = 0; r < world; r++) {
        if (strncmp(all + (size_t)r * stride + off, val, len) != 0) continue;
        int e = r;
        while (e + 1 < world && !strncmp(all + (size_t)(e + 1) * stride + off, val, len)) e++;
        if (k < cap) k += (size_t)snprintf(out + k, cap - k, e > r ? "%s%d-%d" : "%s%d", k ? "," : "", r, e);
        *count += e - r + 1;
        r = e;
    }
}

void apt_agree_setup(AptComm *comm, const char *device, const char *communicator, const char *precision) {
    AptComm *h = comm->host ? comm->host : comm;
    if (h->world == 1) return;
    const char *mine[NKIND] = {device, communicator, precision};
    int32_t v[2 * NKIND];
    for (int k = 0; k < NKIND; k++) v[k] = code(mine[k]), v[NKIND + k] = -v[k];
    h->allreduce(h, v, 2 * NKIND, APT_I32, APT_MAX); // max and -min of each code at once
    bool same = true;
    for (int k = 0; k < NKIND; k++) same = same && v[k] == -v[NKIND + k];
    if (same) return;
    // Someone differs: gather the names to say who.
    const size_t stride = NKIND * FIELD;
    char me[NKIND * FIELD] = {0};
    for (int k = 0; k < NKIND; k++) snprintf(me + k * FIELD, FIELD, "%s", mine[k]);
    char *all = apt_malloc((size_t)h->world * stride);
    h->allgather(h, me, all, stride, APT_U8);
    static const char *what[NKIND] = {"device", "communicator", "precision"};
    char msg[1800], ranks[400];
    size_t m = (size_t)snprintf(msg, sizeof msg, "ranks disagree on");
    for (int k = 0; k < NKIND && m < sizeof msg; k++) {
        if (v[k] == -v[NKIND + k]) continue;
        m += (size_t)snprintf(msg + m, sizeof msg - m, " the %s (", what[k]);
        for (int r = 0; r < h->world && m < sizeof msg; r++) {
            const char *val = all + (size_t)r * stride + (size_t)k * FIELD;
            bool listed = false;
            for (int q = 0; q < r && !listed; q++)
                listed = !strncmp(all + (size_t)q * stride + (size_t)k * FIELD, val, FIELD);
            if (listed) continue;
            int n = 0;
            ranks_with(ranks, sizeof ranks, all, h->world, stride, (size_t)k * FIELD, val, FIELD, &n);
            m += (size_t)snprintf(msg + m, sizeof msg - m, "%s%.*s on rank%s %s", r ? ", " : "", FIELD, val,
                                  n > 1 ? "s" : "", ranks);
        }
        if (m < sizeof msg) m += (size_t)snprintf(msg + m, sizeof msg - m, ")");
    }
    if (m < sizeof msg)
        snprintf(msg + m, sizeof msg - m, ": every rank must run the same device, communicator and precision "
                 "(device: auto falls back to cpu where no GPU is visible: check that node's GPUs and "
                 "CUDA_VISIBLE_DEVICES, or set device: cuda)");
    free(all);
    refuse(h, msg);
}

void apt_agree_devices(AptComm *comm, const AptBackend *be, bool allow_shared) {
    AptComm *h = comm->host ? comm->host : comm;
    if (h->world == 1) return;
    const size_t stride = HOSTLEN + IDLEN;
    char me[HOSTLEN + IDLEN] = {0};
    bool has = apt_backend_cuda_pci_bus_id(be, me + HOSTLEN, IDLEN) == 0;
    const char *fake = apt_test_hook_device_id();
    if (!has && fake) snprintf(me + HOSTLEN, IDLEN, "%s", fake), has = true;
    if (apt_comm_max_host(h, has ? 1.0 : 0.0) == 0) return; // no rank has a GPU: nothing to compare
    if (gethostname(me, HOSTLEN - 1) != 0) snprintf(me, HOSTLEN, "unknown");
    me[HOSTLEN - 1] = 0;
    char *all = apt_malloc((size_t)h->world * stride);
    h->allgather(h, me, all, stride, APT_U8);
    int warned = 0;
    // Host name + bus id is the GPU's identity: ranks on one node (MPI's shared-memory split, local_rank)
    // share a host name, and CUDA_VISIBLE_DEVICES renumbering does not change a bus id.
    for (int r = 0; r < h->world; r++) {
        const char *ri = all + (size_t)r * stride;
        if (!ri[HOSTLEN]) continue;
        for (int q = r + 1; q < h->world; q++) {
            if (memcmp(ri, all + (size_t)q * stride, stride) != 0) continue;
            char ranks[400], msg[1200];
            int n = 0;
            ranks_with(ranks, sizeof ranks, all, h->world, stride, 0, ri, stride, &n);
            if (allow_shared) { // every rank reaches this verdict; rank 0 says it once
                if (h->rank == 0 && !warned++)
                    apt_warn("ranks %s on host %.*s share one GPU (PCI bus id %.*s): allowed with dist.backend mpi "
                             "(device buffers staged through host memory; a test set-up, not a fast one)",
                             ranks, HOSTLEN, ri, IDLEN, ri + HOSTLEN);
                break;
            }
            snprintf(msg, sizeof msg,
                     "ranks %s on host %.*s share one GPU (PCI bus id %.*s): run one rank per GPU (as many ranks per "
                     "node as GPUs, e.g. srun --gpus-per-task=1, or mpirun with one CUDA_VISIBLE_DEVICES entry per "
                     "local rank)",
                     ranks, HOSTLEN, ri, IDLEN, ri + HOSTLEN);
            free(all);
            refuse(h, msg);
        }
    }
    free(all);
}
