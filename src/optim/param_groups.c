// param_groups.c — parameter groups of ViT fine-tuning recipes expressed as per-tensor AptParam fields
// (optim.h): layer-wise learning-rate decay (BEiT, Bao et al. 2022, get_layer_id_for_vit; the recipe timm's
// param_groups_layer_decay follows) and the weight-decay exclusion of norms, biases, position embedding
// and class token (timm's param_groups_weight_decay with no_weight_decay = {pos_embed, cls_token}).
#include "optim.h"

#include "core/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// blocks.<i>.* -> i, else -1
static int block_index(const char *name) {
    if (strncmp(name, "blocks.", 7) != 0) return -1;
    char *end;
    long i = strtol(name + 7, &end, 10);
    return (end != name + 7 && *end == '.') ? (int)i : -1;
}

static bool is_stem(const char *name) {
    return !strcmp(name, "cls_token") || !strcmp(name, "pos_embed") || !strncmp(name, "patch_embed.", 12);
}

void apt_param_groups_apply(AptParamStore *ps, const AptOptimConfig *cfg) {
    int depth = 0;
    for (int i = 0; i < ps->n; i++) {
        int b = block_index(ps->p[i].name);
        if (b + 1 > depth) depth = b + 1;
    }
    const bool layered = cfg->layer_decay > 0.0 && cfg->layer_decay < 1.0; // 1 (or 0: a zeroed config) = off
    if (layered && depth == 0)
        apt_user_error("optim.layer_decay %g: the model has no transformer blocks (blocks.<i>.*); layer-wise "
                       "decay applies to the vit_* archs. HINT: set optim.layer_decay: 1",
                       cfg->layer_decay);
    for (int i = 0; i < ps->n; i++) {
        AptParam *p = &ps->p[i];
        if (p->is_buffer) continue;
        p->lr_scale = 1.0f;
        if (layered) {
            int b = block_index(p->name);
            int id = is_stem(p->name) ? 0 : b >= 0 ? b + 1 : depth + 1;
            p->lr_scale = (float)pow(cfg->layer_decay, depth + 1 - id);
        }
        if (cfg->decay_exclude_norm_bias &&
            (p->ndim <= 1 || !strcmp(p->name, "pos_embed") || !strcmp(p->name, "cls_token")))
            p->decay = false;
    }
}
