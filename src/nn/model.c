// model.c — the AptModel façade: build backbone + head in one parameter store and one activation arena,
// load pretrained weights, run forward/backward.
#include "model.h"

#include "core/arch_names.h"
#include "backbone.h"
#include "core/check.h"
#include "core/log.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

// The constructors, one entry per row of arch_names.h, indexed by AptArchId.
typedef struct {
    const char *name;
    AptBackboneCreate *create;
    int variant;
} AptArch;
#define APT_ARCH_ENTRY_(ID, NAME, CREATE, VARIANT) {NAME, CREATE, VARIANT},
static const AptArch k_archs[] = {APT_ARCH_TABLE(APT_ARCH_ENTRY_)};
#undef APT_ARCH_ENTRY_
_Static_assert(sizeof k_archs / sizeof k_archs[0] == APT_ARCH_COUNT, "one constructor per architecture");

static const AptArch *apt_arch_find(const char *name) {
    for (int i = 0; i < APT_ARCH_COUNT; i++)
        if (!strcmp(k_archs[i].name, name)) return &k_archs[i];
    return NULL;
}

struct AptModel {
    AptParamStore ps;
    AptNet net;
    AptBackbone *bb;
    AptHead head;
    int b_max, C, H, W, D;
    float *x; // [b_max, C, H, W] input in backend memory
    AptTensor
        in; // the input in the backbone's form (bb->x_dtype): x itself, or its cast, stored for backward
    AptTensor last_x; // input of the last forward (backward reads it)
    int last_n;
    bool last_train;
};

AptModel *apt_model_create(const AptModelConfig *mc, AptBackend *be, AptComm *comm, int b_max, int C, int H,
                           int W, uint64_t seed) {
    return apt_model_create_ex(mc, be, comm, b_max, C, H, W, seed, false);
}

AptModel *apt_model_create_ex(const AptModelConfig *mc, AptBackend *be, AptComm *comm, int b_max, int C, int H,
                              int W, uint64_t seed, bool bf16) {
    if (mc->embed_dim < 1) apt_user_error("model.embed_dim: must be >= 1, got %d", mc->embed_dim);
    APT_CHECK(b_max >= 1 && C >= 1 && H >= 1 && W >= 1, "model input %dx%dx%dx%d", b_max, C, H, W);
    AptModel *m = apt_calloc(1, sizeof *m);
    m->b_max = b_max, m->C = C, m->H = H, m->W = W, m->D = mc->embed_dim;
    apt_params_init(&m->ps);
    apt_net_init(&m->net, be, &m->ps, comm, mc->bn, b_max, seed);
    // The precision, decided here once (layers.h AptNet.act_dtype).
    m->net.act_dtype = bf16 ? APT_BF16 : APT_F32;
    m->net.act_layout = bf16 ? be->act_layout : APT_NCHW;
    const AptArch *arch = apt_arch_find(mc->arch);
    if (!arch) apt_user_error("model.arch: unknown '%s' (%s)", mc->arch, APT_ARCH_NAMES_COMMA);
    m->bb = arch->create(&m->net, mc, arch->variant, C, H, W);
    int head_first = m->ps.n;
    double std = mc->head_init_std > 0 ? mc->head_init_std : 0.01;
    apt_head_init(&m->head, &m->net, m->bb->C, m->bb->H * m->bb->W, m->D, std, m->bb->feat->dtype);
    for (int i = head_first; i < m->ps.n; i++)
        m->ps.p[i].is_head = true;
    const size_t nx = (size_t)b_max * C * H * W;
    if (m->bb->x_dtype != APT_F32) { // the first layer keeps the cast input; x is only the upload buffer
        apt_acts_floats(&m->net.acts, &m->x, nx);
        apt_net_act(&m->net, &m->in, nx, m->bb->x_dtype);
    } else {
        apt_acts_request_saved(&m->net.acts, &m->x, nx * sizeof(float));
    }
    apt_net_finalize(&m->net);
    if (mc->pretrained[0]) {
        int n = apt_safetensors_load(&m->ps, mc->pretrained);
        apt_info("model: loaded %d tensors from %s", n, mc->pretrained);
    }
    return m;
}

// The forward chain on x (backend memory, [b, C, H, W]); the embeddings end in m->head.e.
static void forward_core(AptModel *m, const float *x, int b, bool train) {
    APT_CHECK(b >= 1 && b <= m->b_max, "model forward: batch %d outside [1, %d]", b, m->b_max);
    m->net.bn_count_scale = 1.0;
    // nccl at W = 1 reduces too (an identity over one rank): the one-GPU check then covers the BN sums.
    if (train && m->net.bn_mode == APT_BN_SYNC && m->net.comm &&
        (m->net.comm->world > 1 || !strcmp(m->net.comm->name, "nccl")))
        m->net.bn_count_scale = apt_comm_sum_host(m->net.comm, (double)b) / b; // global / local samples
    AptTensor in = apt_f32(x);
    if (m->bb->x_dtype != APT_F32) { // the bf16 chain starts here: one rounding of the input
        m->net.be->cast(m->net.be, b, m->C, (size_t)m->H * m->W, in, m->in);
        in = m->in;
    }
    m->bb->forward(m->bb, &m->net, b, in, train);
    apt_head_forward(&m->head, &m->net, b, *m->bb->feat);
    m->last_x = in;
    m->last_n = b;
    m->last_train = train;
}

void apt_model_forward_dev(AptModel *m, const float *x, int b, float *E, bool train) {
    forward_core(m, x, b, train);
    AptBackend *be = m->net.be;
    be->copy(be, E, m->head.e, (size_t)b * m->D * sizeof(float), APT_COPY_D2D);
}

void apt_model_forward(AptModel *m, const float *x, int b, float *E, bool train) {
    APT_CHECK(b >= 1 && b <= m->b_max, "model forward: batch %d outside [1, %d]", b, m->b_max);
    AptBackend *be = m->net.be;
    be->copy(be, m->x, x, (size_t)b * m->C * m->H * m->W * sizeof(float), APT_COPY_H2D);
    forward_core(m, m->x, b, train);
    be->copy(be, E, m->head.e, (size_t)b * m->D * sizeof(float), APT_COPY_D2H);
}

static void backward_core(AptModel *m) {
    int b = m->last_n;
    apt_head_backward(&m->head, &m->net, b, *m->bb->feat, m->bb->dfeat ? *m->bb->dfeat : NULL);
    apt_net_grads_ready(&m->net, m->head.fc.w);
    if (m->bb->dfeat) m->bb->backward(m->bb, &m->net, b, m->last_x);
}

void apt_model_backward_dev(AptModel *m, const float *dE) {
    APT_CHECK(m->last_n > 0 && m->last_train, "model backward without a preceding train forward");
    AptBackend *be = m->net.be;
    be->copy(be, m->head.de, dE, (size_t)m->last_n * m->D * sizeof(float), APT_COPY_D2D);
    backward_core(m);
}

void apt_model_backward(AptModel *m, const float *dE) {
    APT_CHECK(m->last_n > 0 && m->last_train, "model backward without a preceding train forward");
    AptBackend *be = m->net.be;
    be->copy(be, m->head.de, dE, (size_t)m->last_n * m->D * sizeof(float), APT_COPY_H2D);
    backward_core(m);
}

float *apt_model_input(AptModel *m) {
    return m->x;
}

void apt_model_set_grad_ready_hook(AptModel *m, void (*fn)(void *ctx, size_t lo), void *ctx) {
    m->net.grad_ready = fn;
    m->net.grad_ready_ctx = ctx;
}

void apt_model_set_rng_position(AptModel *m, uint32_t epoch, uint32_t step, uint32_t sample0) {
    m->net.rng_epoch = epoch, m->net.rng_step = step, m->net.rng_sample0 = sample0;
}

AptParamStore *apt_model_params(AptModel *m) {
    return &m->ps;
}
int apt_model_embed_dim(const AptModel *m) {
    return m->D;
}
size_t apt_model_activation_bytes(const AptModel *m) {
    return m->net.acts.total;
}
size_t apt_model_saved_activation_bytes(const AptModel *m) {
    return m->net.acts.saved;
}

void apt_model_destroy(AptModel *m) {
    if (!m) return;
    m->bb->destroy(m->bb, &m->net);
    apt_net_free(&m->net);
    apt_params_free(&m->ps);
    free(m);
}
