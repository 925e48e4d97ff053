// cpu_loss_registry.c — the registry of losses (backend/loss_host.h): one entry per row of
// core/loss_names.h, pointing each name at its CPU row function (cpu_loss_<name>.c) and its kernel
// variant; the CUDA path reads the entry's id.
#include "cpu_loss.h"

#include <string.h>

// The registry, one entry per row of loss_names.h, indexed by AptLossId.
#define APT_LOSS_IMPL_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) {APT_LOSS_##ID, NAME, ROW, VARIANT, COUNTS},
static const AptLossImpl apt_losses[] = {APT_LOSS_TABLE(APT_LOSS_IMPL_)};
#undef APT_LOSS_IMPL_
_Static_assert(sizeof apt_losses / sizeof apt_losses[0] == APT_LOSS_COUNT, "one registry entry per loss");

const AptLossImpl *apt_loss_find(const char *name) {
    for (int i = 0; i < APT_LOSS_COUNT; i++)
        if (!strcmp(apt_losses[i].name, name)) return &apt_losses[i];
    return NULL;
}

const char *apt_loss_name(const AptLossImpl *impl) {
    return impl ? impl->name : "?";
}

const char *apt_loss_names(void) {
    return APT_LOSS_NAMES_COMMA;
}

