// net.c — model build context: parameter registration with initialisers, the activation arena, and the
// deterministic initial weights (every value a function of (seed, APT_RNG_INIT, parameter index)).
#include "layers.h"

#include "core/check.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void apt_net_init(AptNet *net, AptBackend *be, AptParamStore *ps, AptComm *comm, AptBNMode bn, int b_max,
                  uint64_t seed) {
    memset(net, 0, sizeof *net);
    net->be = be;
    net->ps = ps;
    net->comm = comm;
    net->bn_mode = bn;
    net->b_max = b_max;
    net->seed = seed;
    net->bn_count_scale = 1.0;
    apt_acts_init(&net->acts, be);
}

int apt_net_param(AptNet *net, const char *name, int ndim, const int *shape, bool is_buffer, AptInitKind kind,
                  double arg) {
    char full[128];
    int len = snprintf(full, sizeof full, "%s%s", net->prefix, name);
    APT_CHECK(len > 0 && (size_t)len < sizeof full, "parameter name too long: %s%s", net->prefix, name);
    int idx = apt_params_add(net->ps, full, ndim, shape, is_buffer);
    if (net->n_init == net->cap_init) {
        net->cap_init = net->cap_init ? 2 * net->cap_init : 128;
        net->init = realloc(net->init, (size_t)net->cap_init * sizeof *net->init);
        APT_CHECK(net->init, "out of memory");
    }
    net->init[net->n_init++] = (AptInitSpec){idx, kind, arg};
    return idx;
}

void apt_net_dy(AptNet *net, float **slot, size_t floats) {
    int key = net->dy_next < net->dy_nkeys ? net->dy_keys[net->dy_next++] : APT_DY_OWN;
    apt_acts_request_shared(&net->acts, slot, floats * sizeof(float), key);
}

void apt_net_dy_route(AptNet *net, int n, const int *keys) {
    APT_CHECK(net->dy_next == net->dy_nkeys, "apt_net_dy_route: %d routed gradient keys were not taken",
              net->dy_nkeys - net->dy_next);
    APT_CHECK(n >= 0 && n <= (int)(sizeof net->dy_keys / sizeof net->dy_keys[0]), "apt_net_dy_route: %d keys",
              n);
    for (int i = 0; i < n; i++)
        net->dy_keys[i] = keys[i];
    net->dy_nkeys = n, net->dy_next = 0;
}

void apt_net_act(AptNet *net, AptTensor *a, size_t n, AptDType dtype) {
    *a = apt_tensor(NULL, dtype, dtype == APT_F32 ? APT_NCHW : net->act_layout);
    apt_acts_request_saved(&net->acts, &a->p, n * apt_dtype_size(dtype));
}

void apt_net_need_scratch(AptNet *net, size_t floats) {
    if (floats > net->scratch_floats) net->scratch_floats = floats;
}

// w: host memory of the tensor (the store itself, or a host staging copy for a device store).
static void init_tensor(AptNet *net, const AptInitSpec *s, float *w) {
    const AptParam *p = &net->ps->p[s->idx];
    AptRngStream rng = apt_rng_stream(net->seed, APT_RNG_INIT, 0, 0, (uint32_t)s->idx);
    for (size_t i = 0; i < p->numel; i++) {
        switch (s->kind) {
        case APT_INIT_ZERO:
            w[i] = 0.0f;
            break;
        case APT_INIT_ONE:
            w[i] = 1.0f;
            break;
        // torchvision ResNet: kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / fan_out)
        case APT_INIT_KAIMING_OUT:
            w[i] = (float)(apt_rng_next_normal(&rng) * sqrt(2.0 / s->arg));
            break;
        // torch.nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
        case APT_INIT_UNIFORM_FAN_IN:
            w[i] = (float)((2.0 * apt_rng_next_double(&rng) - 1.0) / sqrt(s->arg));
            break;
        case APT_INIT_NORMAL:
            w[i] = (float)(apt_rng_next_normal(&rng) * s->arg);
            break;
        }
    }
}

void apt_net_finalize(AptNet *net) {
    apt_net_dy_route(net, 0, NULL); // every routed gradient key was taken
    if (net->scratch_floats) apt_acts_floats(&net->acts, &net->scratch, net->scratch_floats);
    AptParamStore *ps = net->ps;
    apt_params_finalize_on(ps, net->be);
    apt_acts_alloc(&net->acts);
    float *hw = ps->w, *hb = ps->buffers;
    if (ps->on_device) { // draw on the host (same values as the CPU), then upload once
        hw = apt_calloc(ps->numel ? ps->numel : 1, sizeof(float));
        hb = apt_calloc(ps->buffers_numel ? ps->buffers_numel : 1, sizeof(float));
    }
    for (int i = 0; i < net->n_init; i++) {
        const AptParam *p = &ps->p[net->init[i].idx];
        init_tensor(net, &net->init[i], (p->is_buffer ? hb : hw) + p->offset);
    }
    if (ps->on_device) {
        net->be->copy(net->be, ps->w, hw, ps->numel * sizeof(float), APT_COPY_H2D);
        net->be->copy(net->be, ps->buffers, hb, ps->buffers_numel * sizeof(float), APT_COPY_H2D);
        free(hw);
        free(hb);
    }
}

void apt_net_free(AptNet *net) {
    apt_acts_free(&net->acts);
    free(net->init);
    net->init = NULL;
}
