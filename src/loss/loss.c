// loss.c — the loss parameters from the config (DESIGN §3). The numeric work — the registry of losses,
// the CPU driver, the sigmoid row kernel and one row function per loss — is the backend's (its public
// side: backend/loss_host.h; the CUDA twin: src/backend/cuda/cuda_loss.h), and `aptrain loss`
// (cmd_loss.c) calls the float64 driver there.
#include "loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"

_Static_assert(APT_LIST_MAX <= APT_LOSS_K_MAX, "every loss.recallk.k list fits AptLossParams");

// Defaults come from the config table (config_keys.def), the single source of truth for settings.
int apt_loss_params_default(AptLossParams *p, const char *name) {
    memset(p, 0, sizeof *p);
    AptConfig *cfg = apt_malloc(sizeof *cfg);
    apt_config_defaults(cfg);
    int known = apt_loss_find(name) != NULL;
    if (known) {
        snprintf(cfg->loss.name, sizeof cfg->loss.name, "%s", name);
        apt_loss_params_from_config(p, &cfg->loss);
    }
    free(cfg);
    return known;
}

void apt_loss_params_from_config(AptLossParams *p, const AptLossConfig *c) {
    memset(p, 0, sizeof *p);
    p->impl = apt_loss_find(c->name);
    if (!p->impl)
        apt_user_error("loss.name: unknown loss '%s' (expected one of: %s)", c->name, apt_loss_names());
    if (!(c->tau > 0)) apt_user_error("loss.tau: must be > 0 (got %g)", c->tau);
    if (strcmp(c->triplet_mining, "semihard") && strcmp(c->triplet_mining, "all"))
        apt_user_error("loss.triplet_mining: '%s' (expected all or semihard)", c->triplet_mining);
    p->tau = c->tau;
    p->include_self = c->smoothap.include_self;
    p->alpha = c->pnp.alpha;
    p->b = c->pnp.b;
    p->margin = c->margin;
    p->semihard = !strcmp(c->triplet_mining, "semihard");
    p->ms_alpha = c->ms.alpha;
    p->ms_beta = c->ms.beta;
    p->ms_lambda = c->ms.lambda;
    p->ms_margin = c->ms.margin;
    // recallk: apt_config_check holds the two lists to one length; checked again here for callers that
    // fill an AptLossConfig by hand
    if (c->recallk.n_k < 1 || c->recallk.n_k > APT_LOSS_K_MAX ||
        c->recallk.n_k != c->recallk.n_k_temperatures)
        apt_user_error(
            "loss.recallk.k has %d values and loss.recallk.k_temperatures %d (give the same number, "
            "1 to %d)",
            c->recallk.n_k, c->recallk.n_k_temperatures, APT_LOSS_K_MAX);
    p->recallk_n = c->recallk.n_k;
    for (int i = 0; i < c->recallk.n_k; i++) {
        if (c->recallk.k[i] < 1 || !(c->recallk.k_temperatures[i] > 0))
            apt_user_error("loss.recallk: k %d with temperature %g (k >= 1 and temperature > 0 required)",
                           c->recallk.k[i], c->recallk.k_temperatures[i]);
        p->recallk_k[i] = c->recallk.k[i];
        p->recallk_tau[i] = c->recallk.k_temperatures[i];
    }
}
