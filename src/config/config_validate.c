// config_validate.c — rules that tie several keys together (see apt_config_check in config.h).
#include "config.h"

#include "core/check.h"

#include <stdio.h>
#include <string.h>

static int increasing(const int *v, int n) {
    for (int i = 1; i < n; i++)
        if (v[i] <= v[i - 1]) return 0;
    return 1;
}

int apt_config_check(const AptConfig *c, int world_size, char *err, size_t cap) {
    const AptDataConfig *d = &c->data;
    if (d->batch_size % d->samples_per_class)
        return snprintf(err, cap, "data.batch_size (%d) must be a multiple of data.samples_per_class (%d)",
                        d->batch_size, d->samples_per_class),
               1;
    if (d->batch_size / d->samples_per_class < 2)
        return snprintf(err, cap,
                        "data.batch_size (%d) / data.samples_per_class (%d) gives %d class per batch; "
                        "ranking losses need at least 2",
                        d->batch_size, d->samples_per_class, d->batch_size / d->samples_per_class),
               1;
    if (world_size > 0 && d->batch_size % world_size)
        return snprintf(err, cap, "data.batch_size (%d) must be a multiple of the number of processes (%d)",
                        d->batch_size, world_size),
               1;
    if (d->n_mean < 1 || d->n_mean != d->n_std)
        return snprintf(err, cap, "data.mean has %d values and data.std %d; give the same number (>= 1)",
                        d->n_mean, d->n_std),
               1;
    if (d->crop > 0 && d->resize > 0 && d->crop > d->resize)
        return snprintf(err, cap, "data.crop (%d) must be <= data.resize (%d)", d->crop, d->resize), 1;
    if (c->eval.n_recall_k < 1 || !increasing(c->eval.recall_k, c->eval.n_recall_k))
        return snprintf(err, cap, "eval.recall_k must be a non-empty increasing list"), 1;
    if (c->loss.recallk.n_k < 1 || c->loss.recallk.n_k != c->loss.recallk.n_k_temperatures)
        return snprintf(err, cap,
                        "loss.recallk.k has %d values and loss.recallk.k_temperatures %d; give the same number "
                        "(>= 1)",
                        c->loss.recallk.n_k, c->loss.recallk.n_k_temperatures),
               1;
    if (c->schedule.name == APT_SCHED_STEP &&
        (c->schedule.n_milestones < 1 || !increasing(c->schedule.milestones, c->schedule.n_milestones)))
        return snprintf(err, cap,
                        "schedule.name step needs schedule.milestones, a non-empty increasing list"),
               1;
    if (strncmp(c->model.arch, "vit_", 4) != 0 &&
        (c->model.drop_path > 0 || !strcmp(c->model.vit_pool, "mean") ||
         (c->optim.layer_decay > 0 && c->optim.layer_decay < 1)))
        return snprintf(err, cap,
                        "model.drop_path, model.vit_pool mean and optim.layer_decay apply to the vit_* archs, not "
                        "model.arch %s",
                        c->model.arch),
               1;
    if (c->train.chunk > 0 && (c->model.bn == APT_BN_LOCAL || c->model.bn == APT_BN_SYNC))
        return snprintf(err, cap,
                        "train.chunk needs model.bn frozen or frozen_affine (batch statistics would come from "
                        "one chunk, not the batch)"),
               1;
    // The memory's semantics (gallery-only rows, positives by label) are defined for the ranking losses.
    if (c->loss.memory > 0 && strcmp(c->loss.name, "smoothap") && strncmp(c->loss.name, "pnp-", 4) &&
        strcmp(c->loss.name, "recallk"))
        return snprintf(err, cap, "loss.memory works with smoothap, pnp-* and recallk, not loss.name %s",
                        c->loss.name),
               1;
    // SiMix (src/loss/simix.h) is the Recall@k surrogate's regulariser in its paper and official code. The
    // memory would need virtual rows of its own (not defined there), and the random sampler's repeated
    // classes would make the virtual row count unbounded by m: both refused.
    if (c->loss.simix && strcmp(c->loss.name, "recallk"))
        return snprintf(err, cap, "loss.simix works with loss.name recallk only, not %s", c->loss.name), 1;
    if (c->loss.simix && c->loss.memory > 0)
        return snprintf(err, cap, "loss.simix does not combine with loss.memory (%d): set one of them off",
                        c->loss.memory),
               1;
    if (c->loss.simix && d->sampler != APT_SAMPLER_EPOCH)
        return snprintf(err, cap, "loss.simix needs data.sampler epoch (distinct classes of m samples per batch)"),
               1;
    if (c->device == APT_DEVICE_CPU && !strcmp(c->dist.backend, "nccl"))
        return snprintf(err, cap, "dist.backend nccl needs device cuda (or auto on a GPU host), not cpu"), 1;
    return 0;
}

void apt_config_validate(const AptConfig *cfg, int world_size) {
    char err[512];
    if (apt_config_check(cfg, world_size, err, sizeof err)) apt_user_error("config: %s", err);
}
