// vit.c — Vision Transformer backbones with timm's topology and parameter names
// (timm.models.vision_transformer.VisionTransformer; vit_small_patch16_224: D 384, 12 blocks, 6 heads;
// vit_base_patch16_224: D 768, 12 blocks, 12 heads; MLP ratio 4, qkv bias, LayerNorm eps 1e-6):
//   patch_embed.proj (conv 16×16 / 16) -> tokens [cls_token; patches] + pos_embed
//   -> blocks.i: x = x + drop_path(attn(norm1(x))); x = x + drop_path(mlp.fc2(gelu(mlp.fc1(norm2(x)))))
//   -> norm -> pool (model.vit_pool: `token` = the class token, timm's default; `mean` = mean of the
//   patch tokens after `norm`) -> embedding head (head.c: linear `fc` to D, L2 normalise).
// `mean` keeps the pretrained `norm` before pooling (timm's global_pool='avg' instead drops `norm` for a
// new `fc_norm` after pooling, which a class-token checkpoint does not have).
// pos_embed has the grid of the model's input ([1, 1 + (H/16)(W/16), D]); model.pretrained resamples a
// checkpoint's grid (224: 14×14) as timm does (safetensors.c, pos_embed.c: bicubic, antialiased).
// Drop-path (model.drop_path = rate of the last block, linearly 0 .. rate over blocks as timm) draws
// per (seed, epoch, step, global sample, branch = 2·block + {0 attn, 1 mlp}) (backend.h drop_path).
// Memory: see attention.c (H·T² per block and image) and the buffers below (~16·T·D per block and image).
// Precision bf16 (net->act_dtype; README "Precision"): every stored token tensor (the embedded tokens,
// LayerNorm outputs, qkv, attention probabilities, head outputs, the residual stream, fc1 and GELU
// outputs) is a bf16 view, as the conv families' activations; what the conv chain keeps fp32 stays fp32
// here: the patch convolution (it has a bias) and its input, parameters and their gradients, LayerNorm
// statistics, the attention scores before the softmax (transient), every gradient buffer, the pooled
// features and the head.
#include "backbone.h"
#include "vit_layers.h"

#include "core/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIT_PATCH 16
#define VIT_LN_EPS 1e-6f

typedef struct {
    AptLayerNorm norm1, norm2;
    AptAttention attn;
    AptTLinear fc1, fc2;
    AptTensor x_mid; // [R, D] x + attention branch
    AptTensor h;     // [R, 4D] gelu(fc1) (fc1.y keeps the pre-activation)
    AptTensor out;   // [R, D] block output
    float dpr;     // drop-path rate of this block
    int first;     // index of its first parameter (grad-ready hook)
} VitBlock;

typedef struct {
    AptBackbone bb;
    int D, depth, heads, P, T;
    bool mean_pool;
    AptConv patch;   // patch_embed.proj
    int cls, pos;    // cls_token [1, 1, D], pos_embed [1, T, D]
    AptTensor x0;    // [R, D] embedded tokens
    VitBlock *blocks;
    AptLayerNorm norm;
    AptTensor feat; // [n, D] fp32 (the pooled features, at either precision)
    float *dfeat; // [n, D]
    // gradient buffers shared by all blocks: the residual stream (two, alternating), and per-block scratch
    float *g_stream[2], *g_mid, *g_t, *g_h, *g_branch;
    bool train;
    uint32_t epoch, step, sample0; // drop-path draw position of the last train forward
    uint64_t seed;
} Vit;

static AptTensor branch_drop(Vit *m, AptNet *net, int n, int layer, float p, AptTensor x, AptTensor y) {
    if (!m->train || p <= 0.0f) return x;
    net->be->drop_path(net->be, n, (size_t)m->T * m->D, p, m->seed, m->epoch, m->step, m->sample0, (uint32_t)layer,
                       x, y);
    return y;
}

static void vit_forward(AptBackbone *bb, AptNet *net, int n, AptTensor x, bool train) {
    Vit *m = (Vit *)bb;
    AptBackend *be = net->be;
    const int D = m->D, R = n * m->T;
    const size_t RD = (size_t)R * D;
    m->train = train;
    m->epoch = net->rng_epoch, m->step = net->rng_step, m->sample0 = net->rng_sample0;
    apt_conv_forward(&m->patch, net, n, x);
    be->vit_embed_forward(be, n, m->P, D, m->patch.y.p, apt_net_w(net, m->cls), apt_net_w(net, m->pos),
                          m->x0);
    AptTensor in = m->x0;
    for (int i = 0; i < m->depth; i++) {
        VitBlock *b = &m->blocks[i];
        apt_layernorm_forward(&b->norm1, net, R, in);
        apt_attention_forward(&b->attn, net, n, b->norm1.y, b->x_mid);
        branch_drop(m, net, n, 2 * i, b->dpr, b->x_mid, b->x_mid);
        apt_act_add(net, RD, in, b->x_mid, b->x_mid); // the residual (bf16: the sum rounded once)
        apt_layernorm_forward(&b->norm2, net, R, b->x_mid);
        apt_tlinear_forward_to(&b->fc1, net, R, b->norm2.y, b->fc1.y);
        be->gelu_forward(be, RD * 4, b->fc1.y, b->h);
        apt_tlinear_forward_to(&b->fc2, net, R, b->h, b->out);
        branch_drop(m, net, n, 2 * i + 1, b->dpr, b->out, b->out);
        apt_act_add(net, RD, b->x_mid, b->out, b->out);
        in = b->out;
    }
    apt_layernorm_forward(&m->norm, net, R, in);
    be->token_pool_forward(be, n, m->T, D, m->mean_pool, m->norm.y, m->feat.p);
}

static void vit_backward(AptBackbone *bb, AptNet *net, int n, AptTensor x) {
    Vit *m = (Vit *)bb;
    AptBackend *be = net->be;
    const int D = m->D, R = n * m->T;
    const size_t RD = (size_t)R * D;
    const AptTensor last = m->depth ? m->blocks[m->depth - 1].out : m->x0;
    be->token_pool_backward(be, n, m->T, D, m->mean_pool, m->dfeat, m->g_t);
    float *dout = m->g_stream[0], *din = m->g_stream[1];
    apt_layernorm_backward(&m->norm, net, R, last, m->g_t, dout);
    apt_net_grads_ready(net, m->norm.gamma);
    for (int i = m->depth - 1; i >= 0; i--) {
        VitBlock *b = &m->blocks[i];
        const AptTensor in = i ? m->blocks[i - 1].out : m->x0;
        // MLP branch: out = x_mid + drop(fc2(gelu(fc1(norm2(x_mid)))))
        const float *g = branch_drop(m, net, n, 2 * i + 1, b->dpr, apt_f32(dout), apt_f32(m->g_branch)).p;
        apt_tlinear_backward(&b->fc2, net, R, b->h, g, m->g_h);
        be->gelu_backward(be, RD * 4, b->fc1.y, m->g_h, m->g_h);
        apt_tlinear_backward(&b->fc1, net, R, b->norm2.y, m->g_h, m->g_t);
        apt_layernorm_backward(&b->norm2, net, R, b->x_mid, m->g_t, m->g_mid);
        be->axpy(be, RD, 1.0f, dout, m->g_mid); // + the residual path
        // attention branch: x_mid = in + drop(attn(norm1(in)))
        g = branch_drop(m, net, n, 2 * i, b->dpr, apt_f32(m->g_mid), apt_f32(m->g_branch)).p;
        apt_attention_backward(&b->attn, net, n, b->norm1.y, g, m->g_t);
        apt_layernorm_backward(&b->norm1, net, R, in, m->g_t, din);
        be->axpy(be, RD, 1.0f, m->g_mid, din);
        apt_net_grads_ready(net, b->first);
        float *t = dout;
        dout = din, din = t;
    }
    // dout: gradient of the embedded tokens
    be->vit_embed_backward(be, n, m->P, D, dout, m->patch.dy, apt_net_g(net, m->cls), apt_net_g(net, m->pos));
    apt_conv_backward(&m->patch, net, n, x, NULL);
    apt_net_grads_ready(net, m->cls);
}

static void vit_destroy(AptBackbone *bb, AptNet *net) {
    Vit *m = (Vit *)bb;
    apt_conv_release(&m->patch, net);
    free(m->blocks);
    free(m);
}

// variant: 0 = ViT-S/16, 1 = ViT-B/16 (arch_names.h)
AptBackbone *apt_vit_create(AptNet *net, const AptModelConfig *mc, int variant, int C, int H, int W) {
    static const struct {
        int D, depth, heads;
    } k_sizes[2] = {{384, 12, 6}, {768, 12, 12}};
    APT_CHECK(variant >= 0 && variant < 2, "vit: no size for variant %d (arch_names.h VARIANT column)", variant);
    if (H < VIT_PATCH || W < VIT_PATCH)
        apt_user_error("model.arch %s: input %dx%d is smaller than one %dx%d patch (data.crop)", mc->arch, H, W,
                       VIT_PATCH, VIT_PATCH);
    const bool mean_pool = !strcmp(mc->vit_pool, "mean");
    if (!mean_pool && mc->vit_pool[0] && strcmp(mc->vit_pool, "token")) // "": a zeroed config, the default
        apt_user_error("model.vit_pool: '%s' is not token or mean", mc->vit_pool);
    Vit *m = apt_calloc(1, sizeof *m);
    m->D = k_sizes[variant].D, m->depth = k_sizes[variant].depth, m->heads = k_sizes[variant].heads;
    m->mean_pool = mean_pool;
    m->seed = net->seed;
    const int D = m->D;
    // Registration order = timm's state_dict order: cls_token, pos_embed, patch_embed, blocks, norm (then
    // the head): backward finishes groups from the end, so the grad-ready offsets decrease.
    const int gh = (H - VIT_PATCH) / VIT_PATCH + 1, gw = (W - VIT_PATCH) / VIT_PATCH + 1; // conv, no padding
    m->P = gh * gw;
    m->T = m->P + 1;
    m->cls = apt_net_param(net, "cls_token", 3, (int[]){1, 1, D}, false, APT_INIT_NORMAL, 1e-6);
    m->pos = apt_net_param(net, "pos_embed", 3, (int[]){1, m->T, D}, false, APT_INIT_NORMAL, APT_VIT_INIT_STD);
    apt_conv_init(&m->patch, net, "patch_embed.proj", C, H, W, D, VIT_PATCH, VIT_PATCH, 0, true);
    APT_CHECK(m->patch.d.P * m->patch.d.Q == m->P, "vit: patch grid %dx%d", m->patch.d.P, m->patch.d.Q);
    const size_t R = (size_t)net->b_max * m->T, RD = R * D;
    apt_vit_act(net, &m->x0, RD);
    m->blocks = apt_calloc((size_t)m->depth, sizeof *m->blocks); // fixed: the arena holds slot addresses
    const double rate = mc->drop_path;
    for (int i = 0; i < m->depth; i++) {
        VitBlock *b = &m->blocks[i];
        snprintf(net->prefix, sizeof net->prefix, "blocks.%d.", i);
        b->first = net->ps->n;
        b->dpr = (float)(m->depth > 1 ? rate * i / (m->depth - 1) : rate); // torch.linspace(0, rate, depth)
        apt_layernorm_init(&b->norm1, net, "norm1", D, R, VIT_LN_EPS);
        apt_attention_init(&b->attn, net, m->T, D, m->heads);
        apt_layernorm_init(&b->norm2, net, "norm2", D, R, VIT_LN_EPS);
        apt_tlinear_init(&b->fc1, net, "mlp.fc1", D, 4 * D, R, true);
        apt_tlinear_init(&b->fc2, net, "mlp.fc2", 4 * D, D, R, false);
        apt_vit_act(net, &b->x_mid, RD);
        apt_vit_act(net, &b->h, RD * 4);
        apt_vit_act(net, &b->out, RD);
    }
    net->prefix[0] = '\0';
    apt_layernorm_init(&m->norm, net, "norm", D, R, VIT_LN_EPS);
    apt_net_act(net, &m->feat, (size_t)net->b_max * D, APT_F32);
    apt_acts_floats(&net->acts, &m->dfeat, (size_t)net->b_max * D);
    for (int k = 0; k < 2; k++)
        apt_acts_floats(&net->acts, &m->g_stream[k], RD);
    apt_acts_floats(&net->acts, &m->g_mid, RD);
    apt_acts_floats(&net->acts, &m->g_t, RD);
    apt_acts_floats(&net->acts, &m->g_h, RD * 4);
    apt_acts_floats(&net->acts, &m->g_branch, RD);
    m->bb.C = D;
    m->bb.H = m->bb.W = 1;
    m->bb.forward = vit_forward;
    m->bb.backward = vit_backward;
    m->bb.destroy = vit_destroy;
    m->bb.feat = &m->feat;
    m->bb.dfeat = &m->dfeat;
    return &m->bb;
}
